"""A/B tests of preprocessing strategies on live traffic, with outcomes.

config.py parses `[experiments.NAME]`; assign.py picks a conversation's arm and
applies its settings; ledger.py keeps per-arm counters and outcomes in the Store;
report.py turns them into differences with confidence intervals and a verdict;
service.py is what the gRPC and HTTP doors call.
"""

from promptpress.server.experiments.config import Arm, ArmSettings, Experiment, parse_experiments
from promptpress.server.experiments.ledger import Served, served
from promptpress.server.experiments.report import Report
from promptpress.server.experiments.service import (
    Assignment,
    Experiments,
    OutcomeResult,
    with_arm_settings,
)

__all__ = [
    "Arm",
    "ArmSettings",
    "Assignment",
    "Experiment",
    "Experiments",
    "OutcomeResult",
    "Report",
    "Served",
    "parse_experiments",
    "served",
    "with_arm_settings",
]
