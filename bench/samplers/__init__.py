"""Independent samplers: NVML (GPU energy and power), RAPL (CPU energy), process tree."""

from bench.samplers.base import EnergySource, Sampler, SamplerError, SamplerUnavailable

__all__ = ["EnergySource", "Sampler", "SamplerError", "SamplerUnavailable"]
