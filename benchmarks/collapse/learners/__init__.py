"""The models that are trained generation after generation, behind one interface (``base``: ``fit``, ``sample``,
``evaluate``, and the registry that builds a family by name): 1-D Gaussians and Gaussian mixtures computing in a
chosen floating-point format (``gaussian``, ``precision``, ``em``), a word n-gram (``ngram``), and torch causal LMs
trained from scratch or fine-tuned from a pretrained checkpoint (``causal_lm``, ``transformer``, ``hf``)."""
