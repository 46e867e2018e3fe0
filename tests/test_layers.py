"""The core stands alone: importing the pipeline loads nothing from the layers above it."""
import json
import subprocess
import sys

UPPER = ("detectors", "benchmarks", "cli", "tests")


def _loaded_after(code: str, tops: tuple[str, ...]) -> list[str]:
    """Modules under ``tops`` that a fresh interpreter holds after running ``code``."""
    names = f"sorted(m for m in sys.modules if m.split('.')[0] in {tops!r})"
    probe = f"{code}; import json, sys; print(json.dumps({names}))"
    return json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)


def test_importing_the_pipeline_loads_no_detector_or_benchmark_module():
    assert _loaded_after("import filterkit.engine.pipeline, filterkit.contract.registry", UPPER) == []


def test_a_builtin_detector_is_found_through_the_registry_and_imports_only_its_own_modules():
    loaded = _loaded_after("from filterkit.contract.registry import build; build('exact')", (*UPPER, "torch"))
    assert "detectors.duplicates.exact" in loaded and "torch" not in loaded
    assert not any(m.split(".")[0] in ("benchmarks", "tests") for m in loaded)
