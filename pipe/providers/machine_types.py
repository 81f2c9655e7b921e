"""The catalog's table: each cloud's native machine for a generic size and GPU, with its list price and memory.

CML's table is the starting point (pipe/providers/catalog.py says what changed); prices are on-demand USD per
hour in US regions, for the plan's cost estimate only, not fetched live.
"""

from __future__ import annotations

# (size, gpu) -> (native type, accelerator, count, price, memory GiB). gpu "" = CPU only. Memory from each
# cloud's machine-type pages (AWS instance types, GCP machine families, Azure VM sizes), for the step-size check.
Row = tuple[str, str, int, float, float]
AWS: dict[tuple[str, str], Row] = {
    ("s", ""): ("t3.large", "", 0, 0.0832, 8),
    ("m", ""): ("m5.2xlarge", "", 0, 0.384, 32),
    ("l", ""): ("m5.8xlarge", "", 0, 1.536, 128),
    ("xl", ""): ("m5.16xlarge", "", 0, 3.072, 256),
    ("s", "t4"): ("g4dn.xlarge", "", 0, 0.526, 16),
    ("m", "t4"): ("g4dn.xlarge", "", 0, 0.526, 16),
    ("l", "t4"): ("g4dn.12xlarge", "", 0, 3.912, 192),
    ("xl", "t4"): ("g4dn.metal", "", 0, 7.824, 384),
    ("s", "a10g"): ("g5.xlarge", "", 0, 1.006, 16),
    ("m", "a10g"): ("g5.2xlarge", "", 0, 1.212, 32),
    ("l", "a10g"): ("g5.12xlarge", "", 0, 5.672, 192),
    ("xl", "a10g"): ("g5.48xlarge", "", 0, 16.288, 768),
    ("s", "l4"): ("g6.xlarge", "", 0, 0.805, 16),
    ("m", "l4"): ("g6.2xlarge", "", 0, 0.978, 32),
    ("l", "l4"): ("g6.12xlarge", "", 0, 4.602, 192),
    ("xl", "l4"): ("g6.48xlarge", "", 0, 13.35, 768),
    ("l", "a100"): ("p4d.24xlarge", "", 0, 32.773, 1152),
    ("xl", "a100"): ("p4d.24xlarge", "", 0, 32.773, 1152),
    ("xl", "h100"): ("p5.48xlarge", "", 0, 98.32, 2048),
    ("m", "v100"): ("p3.2xlarge", "", 0, 3.06, 61),
    ("l", "v100"): ("p3.8xlarge", "", 0, 12.24, 244),
    ("xl", "v100"): ("p3.16xlarge", "", 0, 24.48, 488),
}
GCP: dict[tuple[str, str], Row] = {
    ("s", ""): ("e2-standard-2", "", 0, 0.067, 8),
    ("m", ""): ("e2-standard-8", "", 0, 0.268, 32),
    ("l", ""): ("e2-standard-32", "", 0, 1.072, 128),
    ("xl", ""): ("n2-standard-64", "", 0, 3.108, 256),
    ("s", "t4"): ("n1-standard-4", "nvidia-tesla-t4", 1, 0.54, 15),
    ("m", "t4"): ("n1-standard-8", "nvidia-tesla-t4", 1, 0.73, 30),
    ("l", "t4"): ("n1-standard-32", "nvidia-tesla-t4", 4, 2.92, 120),
    ("xl", "t4"): ("n1-standard-64", "nvidia-tesla-t4", 4, 4.44, 240),
    ("s", "l4"): ("g2-standard-4", "", 0, 0.71, 16),
    ("m", "l4"): ("g2-standard-8", "", 0, 0.85, 32),
    ("l", "l4"): ("g2-standard-48", "", 0, 4.0, 192),
    ("xl", "l4"): ("g2-standard-96", "", 0, 8.0, 384),
    ("s", "a100"): ("a2-highgpu-1g", "", 0, 3.67, 85),
    ("m", "a100"): ("a2-highgpu-1g", "", 0, 3.67, 85),
    ("l", "a100"): ("a2-highgpu-4g", "", 0, 14.69, 340),
    ("xl", "a100"): ("a2-highgpu-8g", "", 0, 29.39, 680),
    ("s", "h100"): ("a3-highgpu-1g", "", 0, 11.06, 234),
    ("m", "h100"): ("a3-highgpu-1g", "", 0, 11.06, 234),
    ("l", "h100"): ("a3-highgpu-4g", "", 0, 44.2, 936),
    ("xl", "h100"): ("a3-highgpu-8g", "", 0, 88.25, 1872),
    ("s", "v100"): ("n1-standard-4", "nvidia-tesla-v100", 1, 2.67, 15),
    ("m", "v100"): ("n1-standard-8", "nvidia-tesla-v100", 1, 2.86, 30),
    ("l", "v100"): ("n1-standard-32", "nvidia-tesla-v100", 4, 11.44, 120),
    ("xl", "v100"): ("n1-standard-64", "nvidia-tesla-v100", 8, 22.88, 240),
}
AZURE: dict[tuple[str, str], Row] = {
    ("s", ""): ("Standard_D2s_v5", "", 0, 0.096, 8),
    ("m", ""): ("Standard_F8s_v2", "", 0, 0.338, 16),
    ("l", ""): ("Standard_F32s_v2", "", 0, 1.353, 64),
    ("xl", ""): ("Standard_F64s_v2", "", 0, 2.706, 128),
    ("s", "t4"): ("Standard_NC4as_T4_v3", "", 0, 0.526, 28),
    ("m", "t4"): ("Standard_NC8as_T4_v3", "", 0, 0.752, 56),
    ("l", "t4"): ("Standard_NC64as_T4_v3", "", 0, 4.352, 440),
    ("s", "a100"): ("Standard_NC24ads_A100_v4", "", 0, 3.673, 220),
    ("m", "a100"): ("Standard_NC24ads_A100_v4", "", 0, 3.673, 220),
    ("l", "a100"): ("Standard_NC48ads_A100_v4", "", 0, 7.346, 440),
    ("xl", "a100"): ("Standard_NC96ads_A100_v4", "", 0, 14.692, 880),
    ("s", "h100"): ("Standard_NC40ads_H100_v5", "", 0, 6.98, 320),
    ("m", "h100"): ("Standard_NC40ads_H100_v5", "", 0, 6.98, 320),
    ("l", "h100"): ("Standard_NC80adis_H100_v5", "", 0, 13.96, 640),
    ("xl", "h100"): ("Standard_ND96isr_H100_v5", "", 0, 98.32, 1900),
}

MACHINE_TYPES: dict[str, dict[tuple[str, str], Row]] = {"aws": AWS, "gcp": GCP, "azure": AZURE}
