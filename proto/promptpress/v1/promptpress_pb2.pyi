from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]
    ROLE_TOOL: _ClassVar[Role]

class ToolChoiceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_CHOICE_MODE_UNSPECIFIED: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_AUTO: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_NONE: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_REQUIRED: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_TOOL: _ClassVar[ToolChoiceMode]

class ResponseFormatType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPONSE_FORMAT_TYPE_UNSPECIFIED: _ClassVar[ResponseFormatType]
    RESPONSE_FORMAT_TYPE_TEXT: _ClassVar[ResponseFormatType]
    RESPONSE_FORMAT_TYPE_JSON_OBJECT: _ClassVar[ResponseFormatType]
    RESPONSE_FORMAT_TYPE_JSON_SCHEMA: _ClassVar[ResponseFormatType]

class Placement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLACEMENT_UNSPECIFIED: _ClassVar[Placement]
    PLACEMENT_EDGES: _ClassVar[Placement]
    PLACEMENT_SCORE: _ClassVar[Placement]
    PLACEMENT_SOURCE: _ClassVar[Placement]

class CompressionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_METHOD_UNSPECIFIED: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_LLMLINGUA: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_LONGLLMLINGUA: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_LLMLINGUA2: _ClassVar[CompressionMethod]
    COMPRESSION_METHOD_DISTILLED: _ClassVar[CompressionMethod]

class IndexStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_STATUS_UNSPECIFIED: _ClassVar[IndexStatus]
    INDEX_STATUS_CREATED: _ClassVar[IndexStatus]
    INDEX_STATUS_UNCHANGED: _ClassVar[IndexStatus]
    INDEX_STATUS_REPLACED: _ClassVar[IndexStatus]

class CacheStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_STATUS_UNSPECIFIED: _ClassVar[CacheStatus]
    CACHE_STATUS_NONE: _ClassVar[CacheStatus]
    CACHE_STATUS_EXACT: _ClassVar[CacheStatus]
    CACHE_STATUS_SEMANTIC: _ClassVar[CacheStatus]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
ROLE_TOOL: Role
TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode
TOOL_CHOICE_MODE_AUTO: ToolChoiceMode
TOOL_CHOICE_MODE_NONE: ToolChoiceMode
TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode
TOOL_CHOICE_MODE_TOOL: ToolChoiceMode
RESPONSE_FORMAT_TYPE_UNSPECIFIED: ResponseFormatType
RESPONSE_FORMAT_TYPE_TEXT: ResponseFormatType
RESPONSE_FORMAT_TYPE_JSON_OBJECT: ResponseFormatType
RESPONSE_FORMAT_TYPE_JSON_SCHEMA: ResponseFormatType
PLACEMENT_UNSPECIFIED: Placement
PLACEMENT_EDGES: Placement
PLACEMENT_SCORE: Placement
PLACEMENT_SOURCE: Placement
COMPRESSION_METHOD_UNSPECIFIED: CompressionMethod
COMPRESSION_METHOD_LLMLINGUA: CompressionMethod
COMPRESSION_METHOD_LONGLLMLINGUA: CompressionMethod
COMPRESSION_METHOD_LLMLINGUA2: CompressionMethod
COMPRESSION_METHOD_DISTILLED: CompressionMethod
INDEX_STATUS_UNSPECIFIED: IndexStatus
INDEX_STATUS_CREATED: IndexStatus
INDEX_STATUS_UNCHANGED: IndexStatus
INDEX_STATUS_REPLACED: IndexStatus
CACHE_STATUS_UNSPECIFIED: CacheStatus
CACHE_STATUS_NONE: CacheStatus
CACHE_STATUS_EXACT: CacheStatus
CACHE_STATUS_SEMANTIC: CacheStatus

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments_json: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments_json: _Optional[str] = ...) -> None: ...

class ToolCallDelta(_message.Message):
    __slots__ = ("index", "id", "name", "arguments_delta")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_DELTA_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    name: str
    arguments_delta: str
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., arguments_delta: _Optional[str] = ...) -> None: ...

class ToolChoice(_message.Message):
    __slots__ = ("mode", "name", "disable_parallel_tool_calls")
    MODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISABLE_PARALLEL_TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    mode: ToolChoiceMode
    name: str
    disable_parallel_tool_calls: bool
    def __init__(self, mode: _Optional[_Union[ToolChoiceMode, str]] = ..., name: _Optional[str] = ..., disable_parallel_tool_calls: _Optional[bool] = ...) -> None: ...

class ResponseFormat(_message.Message):
    __slots__ = ("type", "name", "schema_json", "strict")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    type: ResponseFormatType
    name: str
    schema_json: str
    strict: bool
    def __init__(self, type: _Optional[_Union[ResponseFormatType, str]] = ..., name: _Optional[str] = ..., schema_json: _Optional[str] = ..., strict: _Optional[bool] = ...) -> None: ...

class ByteSpan(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "content", "name", "pinned", "tool_call_id", "tool_calls", "protected_spans", "volatile_spans", "no_compress")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_SPANS_FIELD_NUMBER: _ClassVar[int]
    VOLATILE_SPANS_FIELD_NUMBER: _ClassVar[int]
    NO_COMPRESS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    content: str
    name: str
    pinned: bool
    tool_call_id: str
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    protected_spans: _containers.RepeatedCompositeFieldContainer[ByteSpan]
    volatile_spans: _containers.RepeatedCompositeFieldContainer[ByteSpan]
    no_compress: bool
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., name: _Optional[str] = ..., pinned: _Optional[bool] = ..., tool_call_id: _Optional[str] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., protected_spans: _Optional[_Iterable[_Union[ByteSpan, _Mapping]]] = ..., volatile_spans: _Optional[_Iterable[_Union[ByteSpan, _Mapping]]] = ..., no_compress: _Optional[bool] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("id", "text", "metadata", "static")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STATIC_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    metadata: _containers.ScalarMap[str, str]
    static: bool
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., static: _Optional[bool] = ...) -> None: ...

class Tool(_message.Message):
    __slots__ = ("name", "description", "parameters_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    parameters_json: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., parameters_json: _Optional[str] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("provider", "model", "strict")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    strict: bool
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., strict: _Optional[bool] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("max_prompt_tokens", "max_history_tokens", "max_context_tokens", "compression_rate")
    MAX_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_HISTORY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATE_FIELD_NUMBER: _ClassVar[int]
    max_prompt_tokens: int
    max_history_tokens: int
    max_context_tokens: int
    compression_rate: float
    def __init__(self, max_prompt_tokens: _Optional[int] = ..., max_history_tokens: _Optional[int] = ..., max_context_tokens: _Optional[int] = ..., compression_rate: _Optional[float] = ...) -> None: ...

class Sampling(_message.Message):
    __slots__ = ("temperature", "top_p", "max_output_tokens", "seed", "stop")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_p: float
    max_output_tokens: int
    seed: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., max_output_tokens: _Optional[int] = ..., seed: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ...) -> None: ...

class PreprocessRequest(_message.Message):
    __slots__ = ("messages", "documents", "document_ids", "query", "target", "budget", "tools", "sampling", "placement", "compression_method", "tool_choice", "response_format", "conversation_id")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_METHOD_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    query: str
    target: Target
    budget: Budget
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    sampling: Sampling
    placement: Placement
    compression_method: CompressionMethod
    tool_choice: ToolChoice
    response_format: ResponseFormat
    conversation_id: str
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., document_ids: _Optional[_Iterable[str]] = ..., query: _Optional[str] = ..., target: _Optional[_Union[Target, _Mapping]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., placement: _Optional[_Union[Placement, str]] = ..., compression_method: _Optional[_Union[CompressionMethod, str]] = ..., tool_choice: _Optional[_Union[ToolChoice, _Mapping]] = ..., response_format: _Optional[_Union[ResponseFormat, _Mapping]] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class Breakpoint(_message.Message):
    __slots__ = ("message_index", "prefix_tokens", "prefix_hash")
    MESSAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PREFIX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_HASH_FIELD_NUMBER: _ClassVar[int]
    message_index: int
    prefix_tokens: int
    prefix_hash: str
    def __init__(self, message_index: _Optional[int] = ..., prefix_tokens: _Optional[int] = ..., prefix_hash: _Optional[str] = ...) -> None: ...

class CacheInfo(_message.Message):
    __slots__ = ("breakpoints", "prompt_cache_key", "exact_key", "semantic_key", "context_fingerprint")
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_CACHE_KEY_FIELD_NUMBER: _ClassVar[int]
    EXACT_KEY_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    breakpoints: _containers.RepeatedCompositeFieldContainer[Breakpoint]
    prompt_cache_key: str
    exact_key: str
    semantic_key: str
    context_fingerprint: str
    def __init__(self, breakpoints: _Optional[_Iterable[_Union[Breakpoint, _Mapping]]] = ..., prompt_cache_key: _Optional[str] = ..., exact_key: _Optional[str] = ..., semantic_key: _Optional[str] = ..., context_fingerprint: _Optional[str] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("original_tokens", "final_tokens", "stage_ms", "encoding", "approximate", "dropped_messages", "cost_before_usd", "cost_after_usd")
    class StageMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ORIGINAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STAGE_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    APPROXIMATE_FIELD_NUMBER: _ClassVar[int]
    DROPPED_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    COST_BEFORE_USD_FIELD_NUMBER: _ClassVar[int]
    COST_AFTER_USD_FIELD_NUMBER: _ClassVar[int]
    original_tokens: int
    final_tokens: int
    stage_ms: _containers.ScalarMap[str, float]
    encoding: str
    approximate: bool
    dropped_messages: int
    cost_before_usd: float
    cost_after_usd: float
    def __init__(self, original_tokens: _Optional[int] = ..., final_tokens: _Optional[int] = ..., stage_ms: _Optional[_Mapping[str, float]] = ..., encoding: _Optional[str] = ..., approximate: _Optional[bool] = ..., dropped_messages: _Optional[int] = ..., cost_before_usd: _Optional[float] = ..., cost_after_usd: _Optional[float] = ...) -> None: ...

class SelectedChunk(_message.Message):
    __slots__ = ("document_id", "chunk_id", "score", "tokens")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    chunk_id: str
    score: float
    tokens: int
    def __init__(self, document_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., score: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class PreprocessResponse(_message.Message):
    __slots__ = ("messages", "provider_body", "cache", "stats", "chunks", "warnings", "request_id", "conversation_id", "experiment", "arm")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_BODY_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    provider_body: str
    cache: CacheInfo
    stats: Stats
    chunks: _containers.RepeatedCompositeFieldContainer[SelectedChunk]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    conversation_id: str
    experiment: str
    arm: str
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., provider_body: _Optional[str] = ..., cache: _Optional[_Union[CacheInfo, _Mapping]] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., chunks: _Optional[_Iterable[_Union[SelectedChunk, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., experiment: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class CompressRequest(_message.Message):
    __slots__ = ("text", "rate", "target_tokens", "question", "method", "target", "protected_spans")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_TOKENS_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_SPANS_FIELD_NUMBER: _ClassVar[int]
    text: str
    rate: float
    target_tokens: int
    question: str
    method: CompressionMethod
    target: Target
    protected_spans: _containers.RepeatedCompositeFieldContainer[ByteSpan]
    def __init__(self, text: _Optional[str] = ..., rate: _Optional[float] = ..., target_tokens: _Optional[int] = ..., question: _Optional[str] = ..., method: _Optional[_Union[CompressionMethod, str]] = ..., target: _Optional[_Union[Target, _Mapping]] = ..., protected_spans: _Optional[_Iterable[_Union[ByteSpan, _Mapping]]] = ...) -> None: ...

class CompressResponse(_message.Message):
    __slots__ = ("text", "original_tokens", "compressed_tokens", "ratio", "method", "encoding", "cached")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    text: str
    original_tokens: int
    compressed_tokens: int
    ratio: float
    method: CompressionMethod
    encoding: str
    cached: bool
    def __init__(self, text: _Optional[str] = ..., original_tokens: _Optional[int] = ..., compressed_tokens: _Optional[int] = ..., ratio: _Optional[float] = ..., method: _Optional[_Union[CompressionMethod, str]] = ..., encoding: _Optional[str] = ..., cached: _Optional[bool] = ...) -> None: ...

class CountTokensRequest(_message.Message):
    __slots__ = ("texts", "messages", "model")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    model: str
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., model: _Optional[str] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("counts", "total", "encoding", "messages_tokens", "approximate", "warnings")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_TOKENS_FIELD_NUMBER: _ClassVar[int]
    APPROXIMATE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    total: int
    encoding: str
    messages_tokens: int
    approximate: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, counts: _Optional[_Iterable[int]] = ..., total: _Optional[int] = ..., encoding: _Optional[str] = ..., messages_tokens: _Optional[int] = ..., approximate: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class IndexDocumentsRequest(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ...) -> None: ...

class IndexedDocument(_message.Message):
    __slots__ = ("document_id", "status", "chunks", "tokens")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    status: IndexStatus
    chunks: int
    tokens: int
    def __init__(self, document_id: _Optional[str] = ..., status: _Optional[_Union[IndexStatus, str]] = ..., chunks: _Optional[int] = ..., tokens: _Optional[int] = ...) -> None: ...

class IndexDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[IndexedDocument]
    def __init__(self, documents: _Optional[_Iterable[_Union[IndexedDocument, _Mapping]]] = ...) -> None: ...

class DeleteDocumentsRequest(_message.Message):
    __slots__ = ("document_ids",)
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, document_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteDocumentsResponse(_message.Message):
    __slots__ = ("deleted", "not_found")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    not_found: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[int] = ..., not_found: _Optional[_Iterable[str]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("request", "tier", "skip_cache")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SKIP_CACHE_FIELD_NUMBER: _ClassVar[int]
    request: PreprocessRequest
    tier: str
    skip_cache: bool
    def __init__(self, request: _Optional[_Union[PreprocessRequest, _Mapping]] = ..., tier: _Optional[str] = ..., skip_cache: _Optional[bool] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class RoutingDecision(_message.Message):
    __slots__ = ("tier", "score", "forced", "reason")
    TIER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tier: str
    score: float
    forced: bool
    reason: str
    def __init__(self, tier: _Optional[str] = ..., score: _Optional[float] = ..., forced: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("message", "routing", "upstream", "model", "cache_status", "similarity", "usage", "cost_usd", "finish_reason", "stats", "cache", "warnings", "matched_key", "request_id", "conversation_id", "experiment", "arm")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CACHE_STATUS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    message: Message
    routing: RoutingDecision
    upstream: str
    model: str
    cache_status: CacheStatus
    similarity: float
    usage: Usage
    cost_usd: float
    finish_reason: str
    stats: Stats
    cache: CacheInfo
    warnings: _containers.RepeatedScalarFieldContainer[str]
    matched_key: str
    request_id: str
    conversation_id: str
    experiment: str
    arm: str
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., routing: _Optional[_Union[RoutingDecision, _Mapping]] = ..., upstream: _Optional[str] = ..., model: _Optional[str] = ..., cache_status: _Optional[_Union[CacheStatus, str]] = ..., similarity: _Optional[float] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., finish_reason: _Optional[str] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., cache: _Optional[_Union[CacheInfo, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., matched_key: _Optional[str] = ..., request_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., experiment: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class ReportBadHitRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ReportBadHitResponse(_message.Message):
    __slots__ = ("removed", "cache_status", "tenant_threshold")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CACHE_STATUS_FIELD_NUMBER: _ClassVar[int]
    TENANT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    removed: int
    cache_status: CacheStatus
    tenant_threshold: float
    def __init__(self, removed: _Optional[int] = ..., cache_status: _Optional[_Union[CacheStatus, str]] = ..., tenant_threshold: _Optional[float] = ...) -> None: ...

class StreamCompleteRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: CompleteRequest
    def __init__(self, request: _Optional[_Union[CompleteRequest, _Mapping]] = ...) -> None: ...

class StreamCompleteResponse(_message.Message):
    __slots__ = ("delta", "done", "tool_call")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    delta: str
    done: CompleteResponse
    tool_call: ToolCallDelta
    def __init__(self, delta: _Optional[str] = ..., done: _Optional[_Union[CompleteResponse, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCallDelta, _Mapping]] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("request_id", "conversation_id", "metric", "success", "score")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    conversation_id: str
    metric: str
    success: bool
    score: float
    def __init__(self, request_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., metric: _Optional[str] = ..., success: _Optional[bool] = ..., score: _Optional[float] = ...) -> None: ...

class RecordOutcomeResponse(_message.Message):
    __slots__ = ("recorded", "experiment", "arm")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    experiment: str
    arm: str
    def __init__(self, recorded: _Optional[bool] = ..., experiment: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class GetExperimentReportRequest(_message.Message):
    __slots__ = ("name", "metric")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric: str
    def __init__(self, name: _Optional[str] = ..., metric: _Optional[str] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ArmReport(_message.Message):
    __slots__ = ("arm", "weight", "stopped", "stop_reason", "requests", "mean_input_tokens_before", "mean_input_tokens_after", "mean_cost_usd", "exact_hit_rate", "semantic_hit_rate", "mean_latency_ms", "outcomes", "outcome_rate", "outcome_rate_interval", "mean_score")
    ARM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MEAN_INPUT_TOKENS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    MEAN_INPUT_TOKENS_AFTER_FIELD_NUMBER: _ClassVar[int]
    MEAN_COST_USD_FIELD_NUMBER: _ClassVar[int]
    EXACT_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_RATE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_RATE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    arm: str
    weight: float
    stopped: bool
    stop_reason: str
    requests: int
    mean_input_tokens_before: float
    mean_input_tokens_after: float
    mean_cost_usd: float
    exact_hit_rate: float
    semantic_hit_rate: float
    mean_latency_ms: float
    outcomes: int
    outcome_rate: float
    outcome_rate_interval: Interval
    mean_score: float
    def __init__(self, arm: _Optional[str] = ..., weight: _Optional[float] = ..., stopped: _Optional[bool] = ..., stop_reason: _Optional[str] = ..., requests: _Optional[int] = ..., mean_input_tokens_before: _Optional[float] = ..., mean_input_tokens_after: _Optional[float] = ..., mean_cost_usd: _Optional[float] = ..., exact_hit_rate: _Optional[float] = ..., semantic_hit_rate: _Optional[float] = ..., mean_latency_ms: _Optional[float] = ..., outcomes: _Optional[int] = ..., outcome_rate: _Optional[float] = ..., outcome_rate_interval: _Optional[_Union[Interval, _Mapping]] = ..., mean_score: _Optional[float] = ...) -> None: ...

class ArmComparison(_message.Message):
    __slots__ = ("arm", "outcome_rate_difference", "outcome_rate_difference_interval", "cost_difference_usd", "cost_difference_interval", "statement")
    ARM_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_RATE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_RATE_DIFFERENCE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    COST_DIFFERENCE_USD_FIELD_NUMBER: _ClassVar[int]
    COST_DIFFERENCE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    arm: str
    outcome_rate_difference: float
    outcome_rate_difference_interval: Interval
    cost_difference_usd: float
    cost_difference_interval: Interval
    statement: str
    def __init__(self, arm: _Optional[str] = ..., outcome_rate_difference: _Optional[float] = ..., outcome_rate_difference_interval: _Optional[_Union[Interval, _Mapping]] = ..., cost_difference_usd: _Optional[float] = ..., cost_difference_interval: _Optional[_Union[Interval, _Mapping]] = ..., statement: _Optional[str] = ...) -> None: ...

class GetExperimentReportResponse(_message.Message):
    __slots__ = ("name", "control", "metric", "arms", "comparisons", "verdict", "recommended_arm")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    COMPARISONS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_ARM_FIELD_NUMBER: _ClassVar[int]
    name: str
    control: str
    metric: str
    arms: _containers.RepeatedCompositeFieldContainer[ArmReport]
    comparisons: _containers.RepeatedCompositeFieldContainer[ArmComparison]
    verdict: str
    recommended_arm: str
    def __init__(self, name: _Optional[str] = ..., control: _Optional[str] = ..., metric: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[ArmReport, _Mapping]]] = ..., comparisons: _Optional[_Iterable[_Union[ArmComparison, _Mapping]]] = ..., verdict: _Optional[str] = ..., recommended_arm: _Optional[str] = ...) -> None: ...
