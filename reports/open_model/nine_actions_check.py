"""Nine new actions, asked in words the CMU descriptions don't use, 3 seeds each: which known actions the
open model's own agreement judge says each motion looks like (top 2), and whether a warning fired."""
import json
import sys

import numpy as np

from ropar_core import Generator

MODEL = sys.argv[1]
ASK = {  # prompt -> the model's action label(s) that count as shown
    "someone takes a big running leap ahead": ["jump"],
    "a player bounces a ball while moving around the court": ["basketball"],
    "he boots a soccer ball hard": ["kick"],
    "she hops along on a single foot": ["hop", "jump"],
    "standing on one foot with both arms stretched out to keep steady": ["balance"],
    "a soldier stomps along in step like on parade": ["march"],
    "a ballerina lifts one leg high behind her": ["dance"],
    "a man waits around, shifting from foot to foot": ["idle"],
    "he springs up and spins around in the air": ["jump turn", "spin"],
}
gen = Generator.from_pretrained(MODEL, device="cpu")
out = {}
for prompt, want in ASK.items():
    rows = []
    for seed in range(3):
        m = gen.generate(prompt, seconds=4.0, seed=seed)[0]
        emb = gen.text.encode([prompt])
        a = gen.judge.judge(emb, [m.features])[0]
        root = m.joints[:, 0]
        rows.append({"looks_like": a.looks_like[:2], "shown": any(w in a.looks_like[:2] for w in want),
                     "warning": m.warning is not None,
                     "root_travel_m": round(float(np.linalg.norm(root[-1, [0, 2]] - root[0, [0, 2]])), 2),
                     "root_rise_m": round(float(root[:, 1].max() - root[:, 1].min()), 2)})
    shown = sum(r["shown"] for r in rows)
    out[prompt] = {"want": want, "shown_seeds": shown, "seeds": rows}
    print(f"{shown}/3 {prompt!r}: {[r['looks_like'] for r in rows]} warn={[r['warning'] for r in rows]}")
n = sum(v["shown_seeds"] >= 2 for v in out.values())
print(f"shown (>= 2 of 3 seeds): {n}/9")
json.dump(out, open(sys.argv[2], "w"), indent=1)
