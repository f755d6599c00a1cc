"""Figures reported by the papers and model cards, shown beside the computed ones and labelled "reported".

Only published numbers, each with its source. Parameter counts are the rounded
figures the authors quote (often not the exact count of the released model).
"""

from __future__ import annotations

REPORTED: dict[str, dict] = {
    # Devlin et al. 2019, "BERT", section 3.
    "bert-base": {"parameters": "110M", "source": "Devlin et al. 2019 (BERT), sec. 3"},
    "bert-large": {"parameters": "340M", "source": "Devlin et al. 2019 (BERT), sec. 3"},
    # Sanh et al. 2019, "DistilBERT", Table 3.
    "distilbert-base": {"parameters": "66M", "source": "Sanh et al. 2019 (DistilBERT), Table 3"},
    # Lan et al. 2020, "ALBERT", Table 1.
    "albert-base-v2": {"parameters": "12M", "source": "Lan et al. 2020 (ALBERT), Table 1"},
    "albert-large-v2": {"parameters": "18M", "source": "Lan et al. 2020 (ALBERT), Table 1"},
    "albert-xxlarge-v2": {"parameters": "235M", "source": "Lan et al. 2020 (ALBERT), Table 1"},
    # Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", Table 2.
    "gpt2": {"parameters": "117M", "source": "Radford et al. 2019 (GPT-2), Table 2"},
    "gpt2-medium": {"parameters": "345M", "source": "Radford et al. 2019 (GPT-2), Table 2"},
    "gpt2-large": {"parameters": "762M", "source": "Radford et al. 2019 (GPT-2), Table 2"},
    "gpt2-xl": {"parameters": "1542M", "source": "Radford et al. 2019 (GPT-2), Table 2"},
    # Brown et al. 2020, "Language Models are Few-Shot Learners", Table 2.1 (sizes), Table D.1 (compute).
    "gpt3-small": {"parameters": "125M", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-medium": {"parameters": "350M", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-large": {"parameters": "760M", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-xl": {"parameters": "1.3B", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-2.7b": {"parameters": "2.7B", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-6.7b": {"parameters": "6.7B", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-13b": {"parameters": "13.0B", "source": "Brown et al. 2020 (GPT-3), Table 2.1"},
    "gpt3-175b": {"parameters": "175.0B", "training_tokens": 300_000_000_000, "training_flops": 3.14e23,
                  "source": "Brown et al. 2020 (GPT-3), Tables 2.1 and D.1"},
    # Raffel et al. 2020, "Exploring the Limits of Transfer Learning" (T5), sec. 3.7.
    "t5-small": {"parameters": "60M", "source": "Raffel et al. 2020 (T5), sec. 3.7"},
    "t5-base": {"parameters": "220M", "source": "Raffel et al. 2020 (T5), sec. 3.7"},
    "t5-large": {"parameters": "770M", "source": "Raffel et al. 2020 (T5), sec. 3.7"},
    "t5-3b": {"parameters": "3B", "source": "Raffel et al. 2020 (T5), sec. 3.7"},
    "t5-11b": {"parameters": "11B", "source": "Raffel et al. 2020 (T5), sec. 3.7"},
    # Touvron et al. 2023, "Llama 2", Table 1 (tokens) and Table 2 (A100-80GB GPU hours).
    "llama2-7b": {"parameters": "7B", "training_tokens": 2_000_000_000_000, "gpu_hours": 184_320, "gpu": "a100",
                  "source": "Touvron et al. 2023 (Llama 2), Tables 1-2"},
    "llama2-13b": {"parameters": "13B", "training_tokens": 2_000_000_000_000, "gpu_hours": 368_640, "gpu": "a100",
                   "source": "Touvron et al. 2023 (Llama 2), Tables 1-2"},
    "llama2-70b": {"parameters": "70B", "training_tokens": 2_000_000_000_000, "gpu_hours": 1_720_320, "gpu": "a100",
                   "source": "Touvron et al. 2023 (Llama 2), Tables 1-2"},
    # Meta Llama 3 model card (April 2024): "over 15T tokens", 1.3M H100-80GB GPU hours for 8B, 6.4M for 70B.
    "llama3-8b": {"parameters": "8B", "training_tokens": 15_000_000_000_000, "gpu_hours": 1_300_000, "gpu": "h100",
                  "source": "Meta Llama 3 model card (15T+ tokens)"},
    "llama3-70b": {"parameters": "70B", "training_tokens": 15_000_000_000_000, "gpu_hours": 6_400_000, "gpu": "h100",
                   "source": "Meta Llama 3 model card (15T+ tokens)"},
    # Jiang et al. 2024, "Mixtral of Experts", sec. 2.
    "mixtral-8x7b": {"parameters": "47B", "active_parameters": "13B", "source": "Jiang et al. 2024 (Mixtral), sec. 2"},
    # Qwen2.5-7B model card: 7.61B parameters, 6.53B non-embedding.
    "qwen2.5-7b": {"parameters": "7.61B", "source": "Qwen2.5-7B model card"},
    # DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", abstract and Table 1: 671B total / 37B activated,
    # 14.8T tokens, 2.788M H800 GPU hours (2664K pre-training + 119K context extension + 5K post-training).
    "deepseek-v3": {"parameters": "671B", "active_parameters": "37B", "training_tokens": 14_800_000_000_000,
                    "gpu_hours": 2_788_000, "gpu": "h800",
                    # Table 1 also prices the 2.788M GPU-hours at $2 each (its rental assumption): $5.576M, which
                    # "excludes the costs associated with prior research and ablation experiments"; sec. 4.3
                    # extends the context to 32K, then 128K.
                    "training_cost_usd": 5_576_000, "training_cost_basis": "DeepSeek-V3 base: 2.788M H800 GPU-hours at $2/hour",
                    "context_window": "128K",
                    "source": "DeepSeek-AI 2024 (DeepSeek-V3 Technical Report), Table 1, sec. 4.3"},
    # DeepSeek-AI 2025, "DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning", and
    # the DeepSeek-R1 model card: DeepSeek-V3-Base trained further with reinforcement learning (GRPO); 671B total,
    # 37B activated, 128K context; MIT licence. Merged over "deepseek-v3" when the model is named deepseek-r1.
    "deepseek-r1": {"parameters": "671B", "active_parameters": "37B", "context_window": "128K",
                    "strengths": "open weights (MIT); reasoning (math, code) from RL on DeepSeek-V3-Base, "
                                 "reported on par with OpenAI o1",
                    "source": "DeepSeek-AI 2025 (DeepSeek-R1 paper and model card)"},
}

# Models whose architecture is not public: registry entries that hold only reported figures. Whatever is not
# listed here is unknown and shown as such; nothing is estimated.
REPORTED_ONLY: dict[str, dict] = {
    # OpenAI, "OpenAI o3-mini" (announcement, 31 January 2025) and o3-mini system card: a small reasoning model;
    # no architecture, parameter count, training data size or cost published. OpenAI API model page: 200,000-token
    # context window, 100,000 maximum output tokens.
    "o3-mini": {"description": "OpenAI o3-mini (reasoning model, January 2025)", "aliases": ("o3mini", "openai-o3-mini"),
                "context_window": "200,000", "max_output_tokens": "100,000",
                "strengths": "STEM reasoning (science, math, coding); low/medium/high reasoning effort; "
                             "function calling, structured outputs; no vision",
                "source": "OpenAI 2025 (o3-mini announcement, system card, API model page)"},
}
REPORTED_ONLY_ALIASES: dict[str, str] = {a: name for name, e in REPORTED_ONLY.items() for a in e["aliases"]}
