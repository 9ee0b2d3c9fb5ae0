"""Root conftest: settings for every test, notebooks included (their kernels inherit the environment)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["BERT_TASKS_FAST"] = "1"  # notebooks: a tiny model and a few steps
