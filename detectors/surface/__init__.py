"""Surface statistics that need no model: document length, the traces character-level attacks leave, and style
features the classifier's stacked head uses."""
