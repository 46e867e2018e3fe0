"""Transfer benchmark: detectors trained on some generators and domains, tested on ones they never saw."""
