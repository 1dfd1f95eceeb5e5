"""bf16 is used only where the hardware computes it: asking for it never makes a run slower."""

import torch

from model import training


def test_bf16_follows_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(training, "cpu_has_fast_bf16", lambda: False)
    assert not training.bf16_in_effect(cpu, True)
    with training.autocast(cpu, True):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32
    monkeypatch.setattr(training, "cpu_has_fast_bf16", lambda: True)
    assert training.bf16_in_effect(cpu, True) and not training.bf16_in_effect(cpu, False)
    with training.autocast(cpu, True):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.bfloat16


def test_cpu_flags_decide(monkeypatch, tmp_path):
    training.cpu_has_fast_bf16.cache_clear()
    real_path = training.Path
    for flags, expected in [("fpu avx2 fma", False), ("fpu avx512f avx512_bf16", True), ("sse amx_bf16", True)]:
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor : 0\nflags : {flags}\n")
        monkeypatch.setattr(training, "Path", lambda p, info=info: info if p == "/proc/cpuinfo" else real_path(p))
        training.cpu_has_fast_bf16.cache_clear()
        assert training.cpu_has_fast_bf16() is expected
    training.cpu_has_fast_bf16.cache_clear()
