"""Fine-tuning study: decoder, LoRA or both arms trained on the harmonized training split (the
embed_cache and train rules; `python -m cosmos_bench.finetune`).
"""
