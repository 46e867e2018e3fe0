"""The demo on the shared data: it runs, and what it prints is measured, not assumed."""
from filterkit.demo import DemoSizes, run_demo


def test_demo_catches_planted_exact_copies(tmp_path, shared_data):
    sizes = DemoSizes(human=120, machine=40, exact_copies=15, near_copies=10, bad_rows=4, files=2)
    result = run_demo(tmp_path, sizes)
    assert result["documents_in"] == 120 + 40 + 15 + 10 + 4
    assert result["quarantined"] == 4
    assert result["exact_copies_removed"] == "15/15"
    assert result["human_documents_lost"].startswith("0/")
    assert "kept" in result["conservation"]
