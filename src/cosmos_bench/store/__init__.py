"""The files the stages hand each other, read and written in one place: the shards and their
index (harmonize writes them; infer, score, finetune and the report read them), the ground
truth as a prediction is prompted and measured against it (store.truth), and the 3D volume
store of the propagation study. Below the stages: it imports only core and the contracts."""
