"""Training objectives, one per file, registered by name (the name is also the YAML key)."""
from interlingua.objectives import (  # noqa: F401  (registration side effects)
    clm, mlm, nli, nsp, qa_ranking, tlm, translation_ranking, xlco,
)
