"""The user-facing generator: text -> motion, editing, in-betweening, motions of any length.

    from ropar_core import Generator
    g = Generator.from_pretrained()                      # assets/default/, CUDA when available
    [m] = g.generate(["a person waves with the right hand"], seconds=4, seed=0)
    m.joints (T, 22, 3), m.rotations (T, 22, 4) wxyz, m.root (T, 3), m.features (T, 263), m.fps = 20

Pipeline: prompt -> frozen text encoder -> RoPAR iterative unmasking of the (time x part) token grid
-> P-VAE decoder -> 263-d features -> joints (recover_from_ric) -> rotations.

Decisions worth knowing:
- Determinism: every prompt has its own torch.Generator seeded with its seed (seed + index by
  default), so a prompt's motion does not depend on which other prompts share its batch.
- Requests are checked before any work (request.py: limits, one-line errors).
- Long motions: beyond the model's window (max_time_tokens) the token grid is filled window by
  window (windows.py); each new window starts with the last OVERLAP tokens of the previous one fixed
  (RoPAR's known/known_mask), and the whole grid is decoded in one pass (the P-VAE decoder is
  convolutional), so seams need no blending in feature space.
- Rotations come from HumanML3D's own IK (features.joints_to_rotations) applied to the final joints.
  HumanML3D's 6D channels *are* that IK of the positions; re-deriving them from the joints (rather
  than trusting the decoded 6D channels, which a network only approximately keeps consistent) makes
  fk(rotations, root) reproduce every bone direction, also after editing pastes source joints.
- Paths (path.py): the clip is generated at the path's pace (its length over the requested seconds, or
  over the prompt's own speed, measured on raw probe generations, when no length is given); the exact
  pass then turns and shifts each frame so that the pelvis runs along the path facing along it, and
  the cleanup's foot locking plants the feet of the turned steps (docs/paths.md).
- Editing: the source motion is encoded by the P-VAE; tokens of kept (part, frame) cells are fixed
  during unmasking; after decoding, the kept joints are pasted back exactly, the free limbs are
  re-attached to them, and short cross-fades remove jumps at kept/free frame boundaries (the joint
  geometry is editing.py's).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import agreement, cleanup, editing, warning
from ropar_core import features as feats
from ropar_core import path as floor_path
from ropar_core import skeleton as sk
from ropar_core.device import autocast, resolve_device, set_threads
from ropar_core.errors import ModelError, RoparError
from ropar_core.knowledge import Knowledge, action_phrase
from ropar_core.motion import Motion
from ropar_core.request import (
    MAX_FRAMES,
    MAX_PROMPT_TOKENS,
    MAX_SECONDS,
    MIN_FRAMES,
    Request,
    check_path_pace,
    check_prompt,
    check_sampling,
    check_seeds,
    frames_for,
    per_prompt,
)
from ropar_core.ropar import DEFAULT_CFG_SCALE, DEFAULT_UNMASK_STEPS
from ropar_core.windows import sample_in_windows

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL_DIR = ASSETS_DIR / "default"


def shipped_models() -> list[str]:
    """Names of the models in assets/ (each a complete model directory): `--model NAME` picks one."""
    return sorted(p.parent.name for p in ASSETS_DIR.glob("*/config.json"))


def model_path(model: str | os.PathLike | None) -> Path:
    """A model directory, or the name of a shipped one ("default", "open"); None: the default. A folder
    of that name in the working directory wins over the shipped model."""
    if model is None:
        path = DEFAULT_MODEL_DIR
    elif str(model) in shipped_models() and not Path(model).exists():
        path = ASSETS_DIR / str(model)
    else:
        return Path(model)
    if not (path / "config.json").is_file():
        which = "default model" if model is None else f"shipped model {path.name!r}"
        raise ModelError(f"the {which} is missing ({path}); reinstall ropar or pass --model DIR")
    return path


@dataclass
class GeneratedMotion:
    prompt: str
    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    rotations: np.ndarray  # (T, 22, 4) float32 wxyz, features.py convention (HumanML3D IK)
    root: np.ndarray  # (T, 3) float32 root (pelvis) positions
    fps: int
    seed: int
    features: np.ndarray  # (T, 263) float32, un-normalised
    warning: str | None = None  # set when the prompt is unfamiliar or the motion does not show it

    @property
    def frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def to_motion(self):
        """-> Motion, ready for io.save_motion."""
        return Motion(self.joints, self.rotations, float(self.fps), self.prompt, self.seed)


_TEXT_ENCODERS: dict[tuple[str, str], object] = {}  # (text model, device) -> TextEncoder, per process


def _generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


# ---------------------------------------------------------------------------------------------
class Generator:
    """Text-to-motion with one loaded model. Thread-compatible (one call at a time; the server
    serialises calls through its worker)."""

    def __init__(self, pvae, ropar, text_encoder, mean: np.ndarray, std: np.ndarray, config: dict,
                 device: torch.device, name: str = "model", compile: bool = False,
                 threads: int | None = None):
        self.pvae, self.ropar, self.text = pvae.eval(), ropar.eval(), text_encoder
        self.device = torch.device(device)
        set_threads(threads, self.device)
        self.config, self.name = config, name
        self.knowledge = None  # knowledge.Knowledge of the model directory, when it has one
        self.judge = None  # agreement.AgreementJudge of the model directory, when it has one
        self.mean = torch.as_tensor(np.asarray(mean, np.float32), device=self.device)  # (263,)
        self.std = torch.as_tensor(np.asarray(std, np.float32), device=self.device)  # (263,)
        self.max_tokens = int(ropar.cfg.max_time_tokens)
        self.num_parts = int(ropar.cfg.num_parts)
        self.latent_dim = int(ropar.cfg.latent_dim)
        sampling = config.get("sampling", {}) if isinstance(config.get("sampling"), dict) else {}
        self.default_cfg = float(sampling.get("cfg", DEFAULT_CFG_SCALE))
        self.default_steps = int(sampling.get("steps", DEFAULT_UNMASK_STEPS))
        self.default_temperature = float(sampling.get("temperature", 1.0))
        # DDIM steps of the diffusion head per token (None: the model's sample_steps); a speed knob
        self.ddim_steps = None if sampling.get("ddim_steps") is None else int(sampling["ddim_steps"])
        encoder_limit = int(getattr(text_encoder, "max_length", MAX_PROMPT_TOKENS))
        self.max_prompt_tokens = min(MAX_PROMPT_TOKENS, encoder_limit)
        if compile:
            self._compile()

    # -- loading -----------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike | None = None, device: str = "auto",
                        compile: bool = False, threads: int | None = None) -> Generator:
        """Load a model directory (None: the shipped assets/default/) onto `device` (auto|cpu|cuda).
        threads: torch's CPU threads for this process (default on CPU: CPU_THREADS)."""
        from ropar_core.modeldir import load_models
        from ropar_core.text import TextEncoder

        dev = resolve_device(device)
        set_threads(threads, dev)  # before loading: the text encoder's first run already benefits
        path = model_path(model_dir)
        pvae, ropar, config, mean, std = load_models(path, dev)
        key = (str(config.get("text_encoder")), str(dev))
        if key not in _TEXT_ENCODERS:  # frozen and shared: loading it again would only cost time
            _TEXT_ENCODERS[key] = TextEncoder(config.get("text_encoder"), device=dev)
        text = _TEXT_ENCODERS[key]
        if text.dim != ropar.cfg.text_dim:
            raise ModelError(f"{path}: text encoder {text.name!r} gives {text.dim}-d embeddings but the "
                             f"model expects {ropar.cfg.text_dim}")
        name = "default" if model_dir is None else path.name
        gen = cls(pvae, ropar, text, mean, std, config, dev, name=name, compile=compile, threads=threads)
        gen.knowledge = Knowledge.load(path)
        gen.judge = agreement.AgreementJudge.load(path)
        if gen.judge is not None and gen.judge.model.cfg.text_dim != text.dim:
            raise ModelError(f"{path / agreement.FILE_NAME} expects {gen.judge.model.cfg.text_dim}-d text "
                             f"embeddings but the model's text encoder gives {text.dim}")
        return gen

    def _compile(self) -> None:
        """torch.compile the per-step networks (the sampling loops stay eager Python)."""
        for block in self.ropar.blocks:
            block.compile(dynamic=True)
        self.ropar.head.net.compile(dynamic=True)  # the denoiser the DDIM loop calls
        for dec in self.pvae.decoders:
            dec.compile(dynamic=True)

    @property
    def max_frames(self) -> int:
        """Longest motion one window covers; longer motions are generated window by window."""
        return self.max_tokens * sk.TOKEN_FRAMES

    def info(self) -> dict:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"name": self.name, "device": str(self.device), "pvae_parameters": count(self.pvae),
                "ropar_parameters": count(self.ropar), "parts": self.num_parts, "latent_dim": self.latent_dim,
                "window_frames": self.max_frames, "default_cfg": self.default_cfg,
                "default_steps": self.default_steps, "text_encoder": getattr(self.text, "name", "?")}

    # -- validation --------------------------------------------------------------------------------
    def check_prompt(self, prompt) -> str:
        return check_prompt(prompt, getattr(self.text, "tokenizer", None), self.max_prompt_tokens)

    frames_for = staticmethod(frames_for)

    def check_sampling(self, cfg=None, steps=None, temperature=None) -> tuple[float, int, float]:
        return check_sampling(cfg, steps, temperature, self.default_cfg, self.default_steps,
                              self.default_temperature)

    def check_request(self, prompts, frames=None, seconds=None, seed=0, cfg=None, steps=None,
                      temperature=None, default_frames: int | None = None, path=None) -> Request:
        """Validate everything about a request before any work: one-line RoparErrors.
        frames / seconds / seed may be one value or one per prompt; path: checked points (its pace)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)) or not prompts:
            raise RoparError("no prompt given")
        texts = tuple(self.check_prompt(p) for p in prompts)
        n = len(texts)
        lengths = list(zip(per_prompt(frames, n, "frames"), per_prompt(seconds, n, "seconds")))
        frame_list = [frames_for(f, s, default_frames) for f, s in lengths]
        seeds = check_seeds(seed, n)
        cfg, steps, temperature = self.check_sampling(cfg, steps, temperature)
        for f, given in zip(frame_list, lengths):
            if path is not None and given != (None, None):  # no length: the prompt's own pace (generate)
                check_path_pace(floor_path.polyline_length(path), f)
        return Request(texts, tuple(frame_list), tuple(seeds), cfg, steps, temperature)

    # -- sampling core -----------------------------------------------------------------------------
    def _sample_window(self, text_emb, num_tokens, req: Request, gens, known=None, known_mask=None):
        """One window through RoPAR.sample for a batch; row b draws only from gens[b], so a row's result
        does not depend on its batch mates."""
        if known_mask is not None and not bool(known_mask.any()):
            known = known_mask = None
        with autocast(self.device):
            z = self.ropar.sample(text_emb, num_tokens, cfg_scale=req.cfg, steps=req.steps,
                                  temperature=req.temperature, generator=gens, known=known,
                                  known_mask=known_mask, ddim_steps=self.ddim_steps)
        return z.float()  # (B, N, P, C)

    def _sample_tokens(self, text_emb, num_tokens: int, req: Request, gens, known=None, known_mask=None):
        """text_emb (B, D) -> z (B, num_tokens, P, C); windows of max_tokens beyond the model's limit."""
        if num_tokens <= self.max_tokens:
            return self._sample_window(text_emb, num_tokens, req, gens, known, known_mask)
        return sample_in_windows(
            lambda n, k, km: self._sample_window(text_emb, n, req, gens, k, km),
            (text_emb.shape[0], num_tokens, self.num_parts, self.latent_dim), self.max_tokens,
            self.device, known, known_mask)

    @torch.no_grad()
    def _decode(self, z: torch.Tensor) -> np.ndarray:
        """z (B, N, P, C) -> un-normalised features (B, 4N, 263) float32 numpy."""
        x_norm = self.pvae.decode(z.float())  # fp32: cheap next to sampling, and bf16 would cost mm
        x = x_norm * self.std + self.mean
        if not bool(torch.isfinite(x).all()):
            raise ModelError("the model produced NaN or infinite values (a broken or mis-trained checkpoint)")
        return x.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def _encode(self, features: np.ndarray) -> torch.Tensor:
        """Un-normalised features (T, 263), T a multiple of 4 -> mu (1, T/4, P, C)."""
        x = torch.as_tensor(features, dtype=torch.float32, device=self.device)
        x_norm = ((x - self.mean) / self.std).unsqueeze(0)  # (1, T, 263)
        mu, _ = self.pvae.encode(x_norm)
        return mu.float()

    @staticmethod
    def _finish(prompt: str, seed: int, features: np.ndarray, joints: np.ndarray, frames: int):
        """Trim to `frames` and attach IK rotations (computed before trimming, so that the smoothed
        facing direction near the end sees the same neighbours whatever the requested length)."""
        rotations = feats.joints_to_rotations(joints).astype(np.float32)
        joints = joints[:frames].astype(np.float32)
        return GeneratedMotion(prompt=prompt, joints=joints, rotations=rotations[:frames],
                               root=joints[:, 0].copy(), fps=sk.FPS, seed=int(seed),
                               features=np.ascontiguousarray(features[:frames], dtype=np.float32))

    # -- text -> motion ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompts, frames=None, seconds=None, seed=0, cfg=None, steps=None, temperature=None,
                 batch_size: int = 32, progress: bool = False, raw: bool = False,
                 path=None) -> list[GeneratedMotion]:
        """Prompts (a string or a list) -> one GeneratedMotion each, in order.

        frames / seconds: length (default 4 s), one value or one per prompt; frames not a multiple of
        4 are generated to the next multiple and trimmed. seed: the first prompt's seed (prompt i gets
        seed + i) or one per prompt. cfg / steps / temperature: guidance scale, unmasking steps,
        noise scale (None: the model's defaults, config.json "sampling"). raw: skip the cleanup
        (cleanup.py: rigid bones, floor, foot locking, seam blending) and return the decoder's joints as
        they are. path: {"points": [[x, z], ...]} or the points (metres on the floor, the output's axes):
        the pelvis runs along it from its first point to its last, facing along it (path.py); without
        frames / seconds at the prompt's own pace."""
        route = None if path is None else floor_path.FloorPath(floor_path.check_path(path))
        if route is not None:
            self.check_request(prompts, frames, seconds, seed, cfg, steps, temperature)  # before the probe
            frames = self._path_frames(prompts, frames, seconds, route, seed, cfg, steps, temperature,
                                       batch_size)
        req = self.check_request(prompts, frames, seconds, seed, cfg, steps, temperature,
                                 path=None if route is None else route.points)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise RoparError(f"batch size must be a positive whole number, got {batch_size!r}")
        text_emb = self.text.encode(list(req.prompts)).to(self.device).float()  # (n, D)
        groups: dict[int, list[int]] = {}
        for i, f in enumerate(req.frames):  # one token count per batch
            groups.setdefault(math.ceil(f / sk.TOKEN_FRAMES), []).append(i)
        batches = [(n, idx[i:i + batch_size]) for n, idx in groups.items()
                   for i in range(0, len(idx), batch_size)]
        results: list[GeneratedMotion | None] = [None] * len(req.prompts)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(req.prompts), unit="motion", desc="generating", leave=False)
        for num_tokens, idx in batches:
            index = torch.as_tensor(idx, device=self.device)
            z = self._sample_tokens(text_emb[index], num_tokens, req,
                                    _generators([req.seeds[i] for i in idx], self.device))
            features = self._decode(z)  # (b, 4N, 263)
            for row, i in enumerate(idx):
                joints = feats.features_to_joints(features[row])
                feature_rows = features[row]
                seams = cleanup.window_seams(len(joints), self.max_tokens)
                if route is not None:  # the path's exact pass, on the requested frames only; seams are
                    if not raw:  # smoothed before it, or the smoothing would move the pelvis off the path
                        joints, seams = cleanup.blend_seams(joints, seams), ()
                    joints = floor_path.follow(joints[:req.frames[i]], route)
                    feature_rows = feature_rows[:req.frames[i]]
                if not raw:
                    joints = cleanup.clean_joints(joints, feature_rows, seams)
                    # features of the cleaned joints, and joints read back from them, so that joints,
                    # features and rotations describe one motion (HumanML3D's round trip moves < 1 mm)
                    feature_rows = editing.features_of(joints, len(joints))
                    if route is None:  # a path's joints stay as placed: HumanML3D's root integration
                        joints = feats.features_to_joints(feature_rows)  # drifts in long turns
                elif route is not None:
                    feature_rows = editing.features_of(joints, len(joints))
                results[i] = self._finish(req.prompts[i], req.seeds[i], feature_rows, joints, req.frames[i])
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        for m, line in zip(results, self._warnings(req.prompts, text_emb, results)):
            m.warning = line
        return results  # type: ignore[return-value]

    def _path_frames(self, prompts, frames, seconds, route, seed, cfg, steps, temperature, batch_size):
        """Per prompt: its frames; for a prompt given no length, the frames its own pace needs for the
        path, measured on raw probe generations with its seed (pelvis distance per second): one of
        PACE_PROBE_SECONDS, then one of the length that asked for."""
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        out = per_prompt(frames, len(texts), "frames")
        secs = per_prompt(seconds, len(texts), "seconds")
        own = [i for i in range(len(texts)) if out[i] is None and secs[i] is None]
        if not own:
            return frames
        seeds = check_seeds(seed, len(texts))
        lengths = [round(floor_path.PACE_PROBE_SECONDS * sk.FPS)] * len(own)
        for _ in range(floor_path.PACE_ROUNDS):  # round 2 measures a motion of about the right length,
            probes = self.generate([texts[i] for i in own], frames=lengths,  # its start-up included
                                   seed=[seeds[i] for i in own], cfg=cfg, steps=steps,
                                   temperature=temperature, batch_size=batch_size, raw=True)
            lengths = [self._own_pace_frames(m, route.length) for m in probes]
        for i, f in zip(own, lengths):
            out[i] = f
        return out

    @staticmethod
    def _own_pace_frames(m: GeneratedMotion, length: float) -> int:
        """Frames a motion like `m` needs to cover `length` metres at its own pace."""
        pace = max(floor_path.walked(m.joints[:, 0]) / m.seconds, floor_path.MIN_NATURAL_PACE)
        frames = max(MIN_FRAMES, round(length / pace * sk.FPS))
        if frames > MAX_FRAMES:
            raise RoparError(f"the path is {length:.1f} m long: at the pace of {m.prompt!r} "
                             f"({pace:.2f} m/s) that takes {frames / sk.FPS:.0f} s; at most "
                             f"{MAX_SECONDS:g} s (give the seconds for a faster pace)")
        return frames

    def _warnings(self, prompts, text_emb, motions) -> list[str | None]:
        """Per prompt: a one-line warning when the model does not know the prompt's action or its motion
        does not show it (warning.py: knowledge.py's familiarity and agreement.py's judge, one rule);
        None where neither file is in the model."""
        fams = agreements = [None] * len(prompts)
        if self.knowledge is not None:
            fams = self.knowledge.familiarity(self.text.encode([action_phrase(p) for p in prompts]))
        if self.judge is not None:
            agreements = self.judge.judge(text_emb, [m.features for m in motions])
        rule = None if self.judge is None else self.judge.rule
        return warning.warnings(prompts, fams, agreements, rule, [len(m.features) for m in motions])

    def familiarity(self, prompts) -> list:
        """Prompts -> knowledge.Familiarity each (how close each comes to the training captions), or
        Nones for a model directory without knowledge.safetensors."""
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        if self.knowledge is None:
            return [None] * len(texts)
        phrases = [action_phrase(self.check_prompt(t)) for t in texts]
        return self.knowledge.familiarity(self.text.encode(phrases))

    # -- editing -----------------------------------------------------------------------------------
    def _conditioned(self, prompt: str, seed: int, req: Request, source_feats: np.ndarray, kept: np.ndarray):
        """Generate with the tokens of kept cells fixed. source_feats (T, 263) un-normalised features
        aligned with the output frames (filler where nothing is known), kept (T, 5) bool cells.
        -> (features (4N, 263), joints (4N, 22, 3)) of the raw generation."""
        T = len(kept)
        N = math.ceil(T / sk.TOKEN_FRAMES)
        pad = N * sk.TOKEN_FRAMES - T
        x = np.concatenate([source_feats, np.repeat(source_feats[-1:], pad, 0)]) if pad else source_feats
        mu = self._encode(x)  # (1, N, P, C)
        cells = np.concatenate([kept, np.zeros((pad, sk.NUM_PARTS), bool)]) if pad else kept
        token_cells = cells.reshape(N, sk.TOKEN_FRAMES, sk.NUM_PARTS).all(1)  # (N, 5): kept in all 4 frames
        if self.num_parts == 1:
            token_cells = token_cells.all(1, keepdims=True)
        known_mask = torch.as_tensor(token_cells, device=self.device).unsqueeze(0)  # (1, N, P)
        text_emb = self.text.encode([prompt]).to(self.device).float()
        z = self._sample_tokens(text_emb, N, req, _generators([seed], self.device), mu, known_mask)
        features = self._decode(z)[0]
        return features, feats.features_to_joints(features).astype(np.float64)

    def _check_edit(self, prompt, seed, cfg, steps, temperature, frames=None, seconds=None, default_frames=0):
        if frames is None and seconds is None and default_frames > MAX_FRAMES:
            raise RoparError(f"the motion is too long to edit ({default_frames / sk.FPS:g} s at 20 fps; "
                             f"at most {MAX_SECONDS:g} s)")
        return self.check_request([prompt], frames, seconds, [seed], cfg, steps, temperature,
                                  default_frames=default_frames)

    @torch.no_grad()
    def edit(self, prompt: str, motion, keep_parts=None, keep_frames=None, *, fps: float | None = None,
             frames=None, seconds=None, seed: int = 0, cfg=None, steps=None,
             temperature=None) -> GeneratedMotion:
        """Regenerate a motion except the kept cells: `keep_parts` (e.g. "torso,left_leg" or a list)
        and/or `keep_frames` (first, end) in 20-fps frames, end exclusive; both together keep those
        parts within those frames. The kept joints come back exactly as given (at 20 fps; in the
        caller's frame when the motion is in metres and Y up, else normalised). frames / seconds may
        make the result longer than the source (the extra frames are generated)."""
        src = editing.source_joints(motion, fps)
        req = self._check_edit(prompt, seed, cfg, steps, temperature, frames, seconds, len(src))
        T = req.frames[0]
        kept = np.zeros((T, sk.NUM_PARTS), bool)
        n_src = min(T, len(src))
        kept[:n_src] = editing.parse_keep(keep_parts, keep_frames, len(src))[:n_src]
        canon, to_output, reference = editing.canonical(src)
        src_feats = editing.features_of(canon, T)
        features, generated = self._conditioned(req.prompts[0], req.seeds[0], req, src_feats, kept)
        generated = generated[:T]
        target = np.zeros((T, sk.NUM_JOINTS, 3))
        target[:n_src] = canon[:n_src]
        generated = editing.align(generated, target, kept)
        out = to_output(editing.compose(generated, target, kept))
        exact = editing.cell_joints(kept[:n_src])
        out[:n_src][exact] = reference[:n_src][exact]  # bit-exact, not a round trip through the placement
        return self._edited(req, out)

    @torch.no_grad()
    def inbetween(self, motion_a, motion_b, frames, prompt: str = "a person moves", *,
                  fps: float | None = None, seed: int = 0, cfg=None, steps=None,
                  temperature=None) -> GeneratedMotion:
        """A then `frames` generated frames then B. A comes back exactly (in its own frame, see edit);
        B exactly up to a rigid move (a turn about Y and a shift on the ground) that continues the
        generated transition."""
        a = editing.source_joints(motion_a, fps)
        b = editing.source_joints(motion_b, fps)
        gap = self.frames_for(frames=frames)
        total = len(a) + gap + len(b)
        req = self._check_edit(prompt, seed, cfg, steps, temperature, frames=total)
        canon_a, to_output, reference_a = editing.canonical(a)
        canon_b, _, _ = editing.canonical(b)
        fa, fb = editing.features_of(canon_a, len(a)), editing.features_of(canon_b, len(b))
        ramp = np.linspace(0.0, 1.0, gap + 2)[1:-1, None]
        filler = fa[-1] * (1.0 - ramp) + fb[0] * ramp  # (gap, 263) only encoder context, never kept
        kept = np.zeros((total, sk.NUM_PARTS), bool)
        kept[: len(a)] = True
        kept[len(a) + gap:] = True
        features, generated = self._conditioned(req.prompts[0], req.seeds[0], req,
                                                 np.concatenate([fa, filler, fb]), kept)
        generated = generated[:total]
        only_a = kept.copy()
        only_a[len(a):] = False
        target = np.zeros((total, sk.NUM_JOINTS, 3))
        target[: len(a)] = canon_a
        generated = editing.align(generated, target, only_a)
        rot, shift = editing.yaw_fit(canon_b.reshape(-1, 3), generated[len(a) + gap:].reshape(-1, 3),
                                     np.ones(len(b) * sk.NUM_JOINTS))
        target[len(a) + gap:] = editing.apply_rigid(rot, shift, canon_b)
        out = to_output(editing.compose(generated, target, kept))
        out[: len(a)] = reference_a  # bit-exact
        return self._edited(req, out)

    def _edited(self, req: Request, joints: np.ndarray) -> GeneratedMotion:
        """Final edited joints -> GeneratedMotion; features are re-derived from them so that all three
        (joints, rotations, features) describe the same, pasted motion."""
        return self._finish(req.prompts[0], req.seeds[0], editing.features_of(joints, len(joints)), joints,
                            req.frames[0])
