"""Training objectives, one per file, registered by name (the name is also the YAML key)."""
from interlingua.objectives import clm, mlm, nsp, tlm  # noqa: F401  (registration side effects)
