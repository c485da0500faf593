"""Does the vision warm-up let the tiny LLaVA see? Train it to name what an image shows, with and without warm-up.

Both arms build the same tiny LLaVA (same seed, same tokenizer); the "warm"
arm's vision tower is first warmed up (mmkp_lib.models.vision_warmup, cached
in cache/models like load_model's). Then each arm trains end to end (tower,
projector and language model) on generated images (never the benchmark's)
with the target "<colour> <shape>; <scene>", and is scored on held-out images:
colour, shape and scene accuracy of its greedy answer. Prints both arms and
the ratio, plus the warm-up's own probe accuracies and time.

    .venv/bin/python benchmarks/bench_vision_warmup.py                 # defaults: 300 LLaVA steps per arm
    .venv/bin/python benchmarks/bench_vision_warmup.py --steps 600 --batch 32
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def llava_arm(cfg, seed, warm, steps, batch, n_train, n_eval, lr, cache_dir, log):
    from mmkp_lib.models.tiny import make_processor, new_vlm, set_generation_tokens, vision_config
    from mmkp_lib.models.tokenizer import benchmark_vocabulary, train_tokenizer
    from mmkp_lib.models.vision_warmup import label_names, labelled_images, load_tower_into, warmed_tower

    tok = train_tokenizer(benchmark_vocabulary(cfg.tokenizer), vocab_size=cfg.vocab_size, version=cfg.tokenizer)
    proc = make_processor(tok, cfg)
    torch.manual_seed(seed)
    model = new_vlm(cfg, tok)
    set_generation_tokens(model, tok)
    warm_metrics = None
    if warm:
        tower, warm_metrics = warmed_tower(vision_config(cfg), proc.image_processor, cfg.warmup(seed),
                                           cache_dir=cache_dir, log=log)
        load_tower_into(model, tower)

    wcfg = cfg.warmup(seed)
    names = label_names(wcfg)
    # Data streams apart from the warm-up's ([seed, 1] / [seed, 2]).
    tr_imgs, tr_lab = labelled_images(n_train, np.random.default_rng([seed, 11]), wcfg)
    ev_imgs, ev_lab = labelled_images(n_eval, np.random.default_rng([seed, 12]), wcfg)
    prompt = tok.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                   {"type": "text", "text": "what is shown?"}]}],
                                     add_generation_prompt=True, tokenize=False)

    def target(lab):
        return f"{names['colour'][lab[0]]} {names['shape'][lab[1]]}; {names['scene'][lab[2]]}"

    tok.padding_side = "right"
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"]) + cfg.image_tokens - 1
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=g).tolist()
        texts = [prompt + target(tr_lab[i]) + tok.eos_token for i in idx]
        b = proc(text=texts, images=[tr_imgs[i] for i in idx], return_tensors="pt", padding=True)
        labels = b["input_ids"].clone()
        labels[:, :n_prompt] = -100  # prompt + image tokens: same length for every row here
        labels[b["attention_mask"] == 0] = -100
        loss = model(**b, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log and (step + 1) % max(1, steps // 5) == 0:
            log(f"  {'warm' if warm else 'cold'} step {step + 1}/{steps}: loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
    train_s = time.time() - t0

    model.eval()
    tok.padding_side = "left"
    hits = np.zeros(3)
    with torch.no_grad():
        for i in range(0, n_eval, 64):
            imgs = ev_imgs[i:i + 64]
            b = proc(text=[prompt] * len(imgs), images=imgs, return_tensors="pt", padding=True)
            out = model.generate(**b, max_new_tokens=8)
            for j, text in enumerate(tok.batch_decode(out[:, b["input_ids"].shape[1]:], skip_special_tokens=True)):
                lab = ev_lab[i + j]
                words = text.replace(";", " ").split()
                hits += [names["colour"][lab[0]] in words, names["shape"][lab[1]] in words,
                         names["scene"][lab[2]] in words]
    acc = dict(zip(("colour", "shape", "scene"), np.round(hits / n_eval, 3).tolist()))
    return {"accuracy_in_llava": acc, "train_seconds": round(train_s, 1), "warmup": warm_metrics}


def main(argv=None) -> int:
    from mmkp_lib.models.tiny import BUILD_THREADS, DEFAULT_TINY, torch_threads

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="LLaVA training steps per arm")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-eval", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default="cache/models")
    args = p.parse_args(argv)
    res = {}
    with torch_threads(BUILD_THREADS):  # the builds' setting; a fair comparison either way
        for warm in (True, False):
            print(f"arm {'warm' if warm else 'cold'} ...", flush=True)
            res["warm" if warm else "cold"] = llava_arm(DEFAULT_TINY, args.seed, warm, args.steps, args.batch,
                                                       args.n_train, args.n_eval, args.lr, args.cache_dir, print)
    w, c = res["warm"]["accuracy_in_llava"], res["cold"]["accuracy_in_llava"]
    print(json.dumps(res, indent=2))
    print(f"\nafter {args.steps} LLaVA steps (batch {args.batch}), held-out accuracy of the answer:")
    print(f"{'':8}{'colour':>8}{'shape':>8}{'scene':>8}")
    for arm in ("warm", "cold"):
        a = res[arm]["accuracy_in_llava"]
        print(f"{arm:8}{a['colour']:>8.3f}{a['shape']:>8.3f}{a['scene']:>8.3f}")
    print(f"shape accuracy ratio warm/cold: {w['shape'] / max(c['shape'], 1e-9):.2f}")
    wm = res["warm"]["warmup"]
    if wm:
        print(f"warm-up: probe accuracy {wm['accuracy']}, {wm.get('data_seconds')}s data + "
              f"{wm.get('train_seconds')}s training{' (cached)' if 'cached' in wm else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
