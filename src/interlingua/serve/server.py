"""``interlingua serve``: load the encoder and the index, then run the app under uvicorn."""
from __future__ import annotations

import logging

from interlingua.encoding import ME5, SentenceEncoder, load_encoder, resolve_model
from interlingua.serve.config import ServeConfig

log = logging.getLogger("interlingua.serve")


def model_fingerprint(spec: str, encoder: SentenceEncoder) -> dict:
    """What a saved index's vectors depend on: the model folder, its weights file's size and mtime, the
    vector size and int8 (which changes vectors slightly)."""
    _, folder = resolve_model(spec)
    weights = next((p for p in (folder / "model.safetensors", folder / "pytorch_model.bin") if p.is_file()), None)
    stat = weights.stat() if weights else None
    return {"model": ME5 if spec == ME5 else str(folder), "dim": encoder.dim, "int8": encoder.quantized,
            "weights_size": stat.st_size if stat else None, "weights_mtime_ns": stat.st_mtime_ns if stat else None}


def build_app(cfg: ServeConfig):
    """The FastAPI app for ``cfg``, its model loaded and its index built or loaded."""
    from interlingua.serve.app import ServeState, create_app
    from interlingua.serve.index import open_index

    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    encoder = load_encoder(cfg.model, quantize=cfg.int8, device=cfg.device)
    log.info("model %s: %d dimensions, %d tokens at most, %s", cfg.model, encoder.dim, encoder.max_length,
             "int8" if encoder.quantized else "fp32")
    index = open_index(encoder, model_fingerprint(cfg.model, encoder), cfg.index, cfg.index_file, cfg.batch_size)
    return create_app(ServeState.create(encoder, cfg, index))


def serve(cfg: ServeConfig) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if cfg.exposed:
        log.warning("listening on %s without --api-key: anyone who can reach this port can use the model", cfg.host)
    app = build_app(cfg)
    log.info("serving %s on http://%s:%d/ (auth %s, batching %s)", cfg.served_name, cfg.host, cfg.port,
             "on" if cfg.api_key else "off", "on" if cfg.batching else "off")
    uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=cfg.access_log, log_level="info")
