"""The paged KV engine, in nano-vllm's shape: sequence -> block_manager -> scheduler (plain Python,
no torch), model_runner and sampler (torch), llm_engine (the single-threaded engine) and
engine_loop (its thread-safe front for servers). segments.py holds position-independent segments."""
