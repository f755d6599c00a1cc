"""Accelerator peak throughput for GPU-hour estimates.

Every figure is the vendor's **dense** (no 2:4 structured sparsity) peak for
16-bit matrix multiplication on the tensor/matrix units, in TFLOP/s: bf16 where
the chip supports it, fp16 otherwise (V100, T4). SXM/OAM board versions at
their default power unless the key says otherwise. Training time is
`training FLOPs / (peak × MFU)`, where MFU (model FLOPs utilisation) is the
fraction of that peak a real training run achieves (typically 0.3–0.5).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accelerator:
    name: str
    peak_tflops: float
    note: str = ""


GPUS: dict[str, Accelerator] = {a.name: a for a in (
    Accelerator("v100", 125.0, "NVIDIA V100 SXM2, fp16 tensor cores (no bf16)"),
    Accelerator("t4", 65.0, "NVIDIA T4, fp16 tensor cores (no bf16)"),
    Accelerator("a10", 125.0, "NVIDIA A10, bf16"),
    Accelerator("a100", 312.0, "NVIDIA A100 (40/80 GB), bf16"),
    Accelerator("a800", 312.0, "NVIDIA A800 (A100 with reduced NVLink), bf16"),
    Accelerator("l40s", 362.0, "NVIDIA L40S, bf16"),
    Accelerator("h100", 989.0, "NVIDIA H100 SXM, bf16"),
    Accelerator("h100-pcie", 756.0, "NVIDIA H100 PCIe, bf16"),
    Accelerator("h800", 989.0, "NVIDIA H800 SXM (H100 with reduced NVLink), bf16"),
    Accelerator("h200", 989.0, "NVIDIA H200 SXM, bf16"),
    Accelerator("b200", 2250.0, "NVIDIA B200, bf16"),
    Accelerator("mi300x", 1307.0, "AMD Instinct MI300X, bf16"),
    Accelerator("tpu-v4", 275.0, "Google TPU v4 chip, bf16"),
    Accelerator("tpu-v5e", 197.0, "Google TPU v5e chip, bf16"),
    Accelerator("tpu-v5p", 459.0, "Google TPU v5p chip, bf16"),
)}
