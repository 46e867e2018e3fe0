"""The core stands alone: importing the pipeline loads nothing from the layers above it."""
import json
import subprocess
import sys


def test_importing_the_pipeline_loads_no_detector_or_benchmark_module():
    code = ("import json, sys, filterkit.engine.pipeline, filterkit.contract.registry; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'benchmarks', 'cli'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == []


def test_a_builtin_detector_is_found_through_the_registry_and_imports_only_its_own_modules():
    code = ("import json, sys; from filterkit.contract.registry import build; build('exact'); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'benchmarks', 'torch'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert "detectors.duplicates.exact" in loaded and "torch" not in loaded and not any(m.startswith("benchmarks") for m in loaded)
