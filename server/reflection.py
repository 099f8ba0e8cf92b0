"""gRPC server reflection, both protocol versions: v1 and v1alpha.

grpcio-reflection serves only `grpc.reflection.v1alpha.ServerReflection`, but
current tools (`buf curl --reflect-protocol grpc-v1`, newer grpcurl) ask for
`grpc.reflection.v1.ServerReflection`. The two are the same protocol under two
package names (identical messages, field for field), so the v1alpha servicer
answers both: v1 is registered with the same handler, and a copy of the
v1alpha file descriptor renamed to v1 goes into the descriptor pool so clients
can describe the v1 service too.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

from promptpress.server.decode import GuardedRegistrar

V1ALPHA = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _register_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Add grpc/reflection/v1/reflection.proto to the pool, derived from v1alpha's."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = f".{file.package}.", ".grpc.reflection.v1."
    file.name, file.package = _V1_FILE, "grpc.reflection.v1"
    for message in file.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in file.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool.Add(file)


def enable_reflection(
    server: grpc.aio.Server | GuardedRegistrar, service_names: Sequence[str]
) -> None:
    """Serve reflection v1 and v1alpha for `service_names` (plus both reflection services)."""
    pool = descriptor_pool.Default()
    _register_v1_descriptor(pool)
    servicer = reflection.aio.ReflectionServicer((*service_names, V1, V1ALPHA), pool=pool)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(V1, {"ServerReflectionInfo": handler}),
            grpc.method_handlers_generic_handler(V1ALPHA, {"ServerReflectionInfo": handler}),
        )
    )
