"""The GPU benchmark refuses to measure where there is no GPU (as in CI), writing nothing."""
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: run python -m benchmarks.lm gpu instead")
def test_without_a_gpu_nothing_is_measured(tmp_path, capsys):
    from benchmarks.lm.gpu import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path)])
    assert exit_info.value.code == 3 and "no CUDA device" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
