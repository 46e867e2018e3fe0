"""The built-in detectors and what they need (LM loading, the classifier and its training, the replay index).

Each detector is registered as a ``filterkit.detectors`` entry point (``pyproject.toml``) and found through
``filterkit.contract.registry``; nothing in the core imports this package.
"""
