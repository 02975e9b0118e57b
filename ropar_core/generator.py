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
- Long motions: beyond the model's window (max_time_tokens) the token grid is filled window by
  window; each new window starts with the last OVERLAP tokens of the previous one fixed (RoPAR's
  known/known_mask), and the whole grid is decoded in one pass (the P-VAE decoder is convolutional),
  so seams need no blending in feature space.
- Rotations come from HumanML3D's own IK (features.joints_to_rotations) applied to the final joints.
  HumanML3D's 6D channels *are* that IK of the positions; re-deriving them from the joints (rather
  than trusting the decoded 6D channels, which a network only approximately keeps consistent) makes
  fk(rotations, root) reproduce every bone direction, also after editing pastes source joints.
- Editing: the source motion is encoded by the P-VAE; tokens of kept (part, frame) cells are fixed
  during unmasking; after decoding, the kept joints are pasted back exactly, the free limbs are
  re-attached to them, and short cross-fades remove jumps at kept/free frame boundaries.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ropar_core import features as feats
from ropar_core import skeleton as sk
from ropar_core.errors import ModelError, RoparError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "default"
DEFAULT_SECONDS = 4.0
MIN_FRAMES = sk.TOKEN_FRAMES  # one latent token
MAX_SECONDS = 120.0  # two minutes: longer requests are almost certainly mistakes (and slow)
MAX_PROMPT_CHARS = 300
MAX_PROMPT_TOKENS = 77  # CLIP's context; the MiniLM encoder truncates at its own max_length anyway
CFG_RANGE = (0.0, 20.0)
STEPS_RANGE = (1, 100)
TEMP_RANGE = (0.0, 5.0)
MAX_SEED = 2**63 - 1
OVERLAP_FRACTION = 0.25  # long motions: share of each window's tokens fixed from the previous window
SEAM_BLEND_FRAMES = 8  # editing: cross-fade length (0.4 s) where generated frames meet kept frames
# Sampling runs thousands of small matmuls (a few dozen tokens each): one thread is as fast as two on an
# idle 2-core CPU and up to 25x faster on a shared one, where OpenMP threads wait for each other
# (measured: 0.56 s vs 14 s per 196-frame motion on this project's busy 2-core machine).
CPU_THREADS = 1


@dataclass
class GeneratedMotion:
    prompt: str
    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    rotations: np.ndarray  # (T, 22, 4) float32 wxyz, features.py convention (HumanML3D IK)
    root: np.ndarray  # (T, 3) float32 root (pelvis) positions
    fps: int
    seed: int
    features: np.ndarray  # (T, 263) float32, un-normalised

    @property
    def frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def to_motion(self):
        """-> io.Motion, ready for io.save_motion."""
        from ropar_core.io import Motion

        return Motion(self.joints, self.rotations, float(self.fps), self.prompt, self.seed)


@dataclass(frozen=True)
class Request:
    """A validated generation request: one entry per prompt."""

    prompts: tuple[str, ...]
    frames: tuple[int, ...]
    seeds: tuple[int, ...]
    cfg: float
    steps: int
    temperature: float


# ---------------------------------------------------------------------------------------------
# Device selection.
def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    name = "auto" if device is None else str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise RoparError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RoparError("device 'cuda' was requested but no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RoparError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if dev.type not in ("cpu", "cuda"):
        raise RoparError(f"unsupported device {name!r}; use auto, cpu or cuda")
    return dev


_TEXT_ENCODERS: dict[tuple[str, str], object] = {}  # (text model, device) -> TextEncoder, per process


def _set_threads(threads: int | None, device: torch.device) -> None:
    """torch's intra-op threads for this process: `threads`, or CPU_THREADS when generating on the CPU."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise RoparError(f"threads must be a positive whole number, got {threads!r}")
    if threads is not None or device.type == "cpu":
        torch.set_num_threads(threads or CPU_THREADS)


def _generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


# ---------------------------------------------------------------------------------------------
# Small geometry helpers for editing.
def _yaw_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation about Y (3, 3) and translation (3,) (XZ only) moving points src (M, 3) onto dst (M, 3)
    in the least-squares sense (2-D Procrustes in the ground plane)."""
    w = weights / max(weights.sum(), 1e-12)
    cs, cd = (src * w[:, None]).sum(0), (dst * w[:, None]).sum(0)
    p, q = (src - cs)[:, [0, 2]], (dst - cd)[:, [0, 2]]  # (M, 2) as (x, z)
    cross = (w * (p[:, 1] * q[:, 0] - p[:, 0] * q[:, 1])).sum()
    dot = (w * (p * q).sum(-1)).sum()
    a = math.atan2(cross, dot)
    rot = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    shift = cd - cs @ rot.T
    shift[1] = 0.0
    return rot, shift


def _apply(rot: np.ndarray, shift: np.ndarray, joints: np.ndarray) -> np.ndarray:
    return joints @ rot.T + shift


def cell_joints(kept: np.ndarray) -> np.ndarray:
    """(T, 5) bool kept cells -> (T, 22) bool joints pasted from the source."""
    out = np.zeros((len(kept), sk.NUM_JOINTS), dtype=bool)
    for p, name in enumerate(sk.PART_NAMES):
        out[np.ix_(kept[:, p], list(sk.PART_JOINTS[name]))] = True
    return out


def compose(generated: np.ndarray, source: np.ndarray, kept: np.ndarray,
            blend: int = SEAM_BLEND_FRAMES) -> np.ndarray:
    """Paste kept cells of `source` into `generated` (both (T, 22, 3), same frame):
    kept joints are copied exactly, the other joints of a frame hang from their parents with the
    generated bone vectors, and frames without any kept cell are cross-faded towards the pasted
    neighbours over `blend` frames so that nothing jumps. kept: (T, 5) bool cells."""
    T = len(generated)
    out = generated.astype(np.float64).copy()
    anchored = kept.any(1)  # (T,) frames with pasted joints
    pasted = cell_joints(kept)  # (T, 22)
    for j in range(sk.NUM_JOINTS):  # parents first (SMPL order)
        take = anchored & pasted[:, j]
        out[take, j] = source[take, j]
        hang = anchored & ~pasted[:, j]
        if j > 0 and hang.any():
            p = sk.PARENTS[j]
            out[hang, j] = out[hang, p] + (generated[hang, j] - generated[hang, p])
    # Cross-fade free runs towards the anchored frames on either side.
    free = np.flatnonzero(~anchored)
    corrected = out.copy()
    if len(free) and anchored.any():
        runs = np.split(free, np.flatnonzero(np.diff(free) > 1) + 1)
        for run in runs:
            s, e = int(run[0]), int(run[-1]) + 1  # free frames [s, e)
            k = min(blend, e - s)
            if s > 0:  # anchored frame s-1 on the left
                delta = out[s - 1] - generated[s - 1]
                for i in range(k):
                    corrected[s + i] += delta * (1.0 - (i + 1) / (k + 1))
            if e < T:  # anchored frame e on the right
                delta = out[e] - generated[e]
                for i in range(k):
                    corrected[e - 1 - i] += delta * (1.0 - (i + 1) / (k + 1))
    out[~anchored] = corrected[~anchored]
    return out


# ---------------------------------------------------------------------------------------------
class Generator:
    """Text-to-motion with one loaded model. Thread-compatible (one call at a time; the server
    serialises calls through its worker)."""

    def __init__(self, pvae, ropar, text_encoder, mean: np.ndarray, std: np.ndarray, config: dict,
                 device: torch.device, name: str = "model", compile: bool = False,
                 threads: int | None = None):
        self.pvae, self.ropar, self.text = pvae.eval(), ropar.eval(), text_encoder
        self.device = torch.device(device)
        _set_threads(threads, self.device)
        self.config, self.name = config, name
        self.mean = torch.as_tensor(np.asarray(mean, np.float32), device=self.device)  # (263,)
        self.std = torch.as_tensor(np.asarray(std, np.float32), device=self.device)  # (263,)
        self.max_tokens = int(ropar.cfg.max_time_tokens)
        self.num_parts = int(ropar.cfg.num_parts)
        self.latent_dim = int(ropar.cfg.latent_dim)
        sample_defaults = inspect.signature(type(ropar).sample).parameters
        sampling = config.get("sampling", {}) if isinstance(config.get("sampling"), dict) else {}
        self.default_cfg = float(sampling.get("cfg", sample_defaults["cfg_scale"].default))
        self.default_steps = int(sampling.get("steps", sample_defaults["steps"].default))
        # DDIM steps of the diffusion head per token (None: the head's own default); a speed knob
        self.diffusion_steps = sampling.get("diffusion_steps")
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
        _set_threads(threads, dev)  # before loading: the text encoder's first run already benefits
        path = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        if model_dir is None and not (path / "config.json").is_file():
            raise ModelError(f"the default model is missing ({path}); reinstall ropar or pass --model DIR")
        pvae, ropar, config, mean, std = load_models(path, dev)
        key = (str(config.get("text_encoder")), str(dev))
        if key not in _TEXT_ENCODERS:  # frozen and shared: loading it again would only cost time
            _TEXT_ENCODERS[key] = TextEncoder(config.get("text_encoder"), device=dev)
        text = _TEXT_ENCODERS[key]
        if text.dim != ropar.cfg.text_dim:
            raise ModelError(f"{path}: text encoder {text.name!r} gives {text.dim}-d embeddings but the "
                             f"model expects {ropar.cfg.text_dim}")
        name = "default" if model_dir is None else path.name
        return cls(pvae, ropar, text, mean, std, config, dev, name=name, compile=compile, threads=threads)

    def _compile(self) -> None:
        """torch.compile the per-step networks (the sampling loops stay eager Python)."""
        for block in self.ropar.blocks:
            block.compile(dynamic=True)
        self.ropar.head.net.compile(dynamic=True)  # the denoiser the DDIM loop calls
        for dec in self.pvae.decoders:
            dec.compile(dynamic=True)

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

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
        if not isinstance(prompt, str):
            raise RoparError(f"a prompt must be a string, got {type(prompt).__name__}")
        text = " ".join(prompt.split())
        if not text:
            raise RoparError("empty prompt: describe the motion, e.g. \"a person walks forward\"")
        if len(text) > MAX_PROMPT_CHARS:
            raise RoparError(f"prompt too long ({len(text)} characters; at most {MAX_PROMPT_CHARS}): "
                             f"{text[:40]!r}...")
        tokenizer = getattr(self.text, "tokenizer", None)
        if tokenizer is not None:
            n = len(tokenizer(text)["input_ids"])
            if n > self.max_prompt_tokens:
                raise RoparError(f"prompt too long ({n} tokens; at most {self.max_prompt_tokens}): "
                                 f"{text[:40]!r}...")
        return text

    @staticmethod
    def frames_for(frames=None, seconds=None, default_frames: int | None = None) -> int:
        """--frames / --seconds -> a frame count at 20 fps, validated."""
        if frames is not None and seconds is not None:
            raise RoparError("give seconds or frames, not both")
        if frames is None and seconds is None:
            return int(default_frames if default_frames is not None else round(DEFAULT_SECONDS * sk.FPS))
        if frames is not None:
            if isinstance(frames, bool) or not float(frames).is_integer():
                raise RoparError(f"frames must be a whole number, got {frames!r}")
            n = int(frames)
        else:
            s = float(seconds)
            if not math.isfinite(s) or s <= 0:
                raise RoparError(f"seconds must be positive, got {seconds!r}")
            n = int(round(s * sk.FPS))
        if n < MIN_FRAMES:
            raise RoparError(f"the motion must be at least {MIN_FRAMES} frames ({MIN_FRAMES / sk.FPS:g} s) "
                             f"long, got {n} frames")
        if n > MAX_SECONDS * sk.FPS:
            raise RoparError(f"{n} frames ({n / sk.FPS:g} s) is too long; at most {MAX_SECONDS:g} s "
                             f"({int(MAX_SECONDS * sk.FPS)} frames)")
        return n

    def check_sampling(self, cfg=None, steps=None, temperature=1.0) -> tuple[float, int, float]:
        cfg = self.default_cfg if cfg is None else cfg
        steps = self.default_steps if steps is None else steps
        temperature = 1.0 if temperature is None else temperature
        for name, value, (lo, hi) in (("cfg", cfg, CFG_RANGE), ("temperature", temperature, TEMP_RANGE)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise RoparError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
        lo, hi = STEPS_RANGE
        if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not float(steps).is_integer() \
                or not lo <= steps <= hi:
            raise RoparError(f"steps must be a whole number in [{lo}, {hi}], got {steps!r}")
        return float(cfg), int(steps), float(temperature)

    def check_request(self, prompts, frames=None, seconds=None, seed=0, cfg=None, steps=None, temperature=1.0,
                      default_frames: int | None = None) -> Request:
        """Validate everything about a request before any work: one-line RoparErrors.
        frames / seconds / seed may be one value or one per prompt."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)) or not prompts:
            raise RoparError("no prompt given")
        texts = tuple(self.check_prompt(p) for p in prompts)
        n = len(texts)

        def per_prompt(value, what):
            if isinstance(value, (list, tuple)):
                if len(value) != n:
                    raise RoparError(f"{len(value)} {what} values for {n} prompts")
                return list(value)
            return [value] * n

        frame_list = [self.frames_for(f, s, default_frames)
                      for f, s in zip(per_prompt(frames, "frames"), per_prompt(seconds, "seconds"))]
        if isinstance(seed, (list, tuple)):
            seeds = per_prompt(seed, "seed")
        else:
            whole = isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
            seeds = [seed + i if whole else seed for i in range(n)]
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s <= MAX_SEED:
                raise RoparError(f"seed must be a whole number in [0, 2^63), got {s!r}")
        cfg, steps, temperature = self.check_sampling(cfg, steps, temperature)
        return Request(texts, tuple(frame_list), tuple(int(s) for s in seeds), cfg, steps, temperature)

    # -- sampling core -----------------------------------------------------------------------------
    def _sample_window(self, text_emb, num_tokens, req: Request, gens, known=None, known_mask=None):
        """One window through RoPAR.sample for a batch; row b draws only from gens[b], so a row's result
        does not depend on its batch mates."""
        if known_mask is not None and not bool(known_mask.any()):
            known = known_mask = None
        with self._autocast():
            z = self.ropar.sample(text_emb, num_tokens, cfg_scale=req.cfg, steps=req.steps,
                                  temperature=req.temperature, generator=gens, known=known,
                                  known_mask=known_mask, diffusion_steps=self.diffusion_steps)
        return z.float()  # (B, N, P, C)

    def _sample_tokens(self, text_emb, num_tokens: int, req: Request, gens, known=None, known_mask=None):
        """text_emb (B, D) -> z (B, num_tokens, P, C); windows of max_tokens beyond the model's limit."""
        if num_tokens <= self.max_tokens:
            return self._sample_window(text_emb, num_tokens, req, gens, known, known_mask)
        B, P, C = text_emb.shape[0], self.num_parts, self.latent_dim
        if known is None:
            known = torch.zeros(B, num_tokens, P, C, device=self.device)
            known_mask = torch.zeros(B, num_tokens, P, dtype=torch.bool, device=self.device)
        z = torch.zeros(B, num_tokens, P, C, device=self.device)
        overlap = max(1, int(self.max_tokens * OVERLAP_FRACTION))
        done = 0
        while done < num_tokens:
            start = max(0, done - overlap)
            end = min(start + self.max_tokens, num_tokens)
            k, km = known[:, start:end].clone(), known_mask[:, start:end].clone()
            k[:, : done - start] = z[:, start:done]  # the overlap continues the previous window
            km[:, : done - start] = True
            z[:, start:end] = self._sample_window(text_emb, end - start, req, gens, k, km)
            done = end
        return z

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
    def generate(self, prompts, frames=None, seconds=None, seed=0, cfg=None, steps=None, temperature=1.0,
                 batch_size: int = 32, progress: bool = False) -> list[GeneratedMotion]:
        """Prompts (a string or a list) -> one GeneratedMotion each, in order.

        frames / seconds: length (default 4 s), one value or one per prompt; frames not a multiple of
        4 are generated to the next multiple and trimmed. seed: the first prompt's seed (prompt i gets
        seed + i) or one per prompt. cfg / steps / temperature: guidance scale, unmasking steps,
        noise scale (None: the model's defaults)."""
        req = self.check_request(prompts, frames, seconds, seed, cfg, steps, temperature)
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
                results[i] = self._finish(req.prompts[i], req.seeds[i], features[row], joints, req.frames[i])
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.close()
        return results  # type: ignore[return-value]

    # -- editing -----------------------------------------------------------------------------------
    @staticmethod
    def _source_joints(motion, fps=None) -> np.ndarray:
        """Motion | (T, 22, 3) array -> float64 joints at 20 fps."""
        from ropar_core.resample import resample

        if hasattr(motion, "joints"):
            joints, src_fps = motion.joints, float(getattr(motion, "fps", sk.FPS))
        else:
            joints, src_fps = motion, float(fps if fps is not None else sk.FPS)
        arr = np.asarray(joints)
        if arr.ndim != 3 or arr.shape[1:] != (sk.NUM_JOINTS, 3):
            raise RoparError(f"the motion to edit must have joints of shape (frames, 22, 3), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise RoparError("the motion to edit contains NaN, infinite or non-numeric values")
        if not (math.isfinite(src_fps) and src_fps > 0):
            raise RoparError(f"the motion's frame rate must be positive, got {src_fps!r}")
        arr = resample(arr.astype(np.float64), src_fps, float(sk.FPS))
        if len(arr) < 2:
            raise RoparError("the motion to edit is shorter than two frames at 20 fps")
        return arr

    @staticmethod
    def _canonical(src: np.ndarray):
        """Source joints -> (canonical joints (HumanML3D convention), to_output(joints) mapping canonical
        joints into the frame the result is returned in, reference: the source in that frame).
        A source already in metres and Y up keeps its own placement (so kept joints come back bit-exact
        in the caller's frame); anything else is returned normalised."""
        try:
            canon, report = feats.normalise_joints(src)
        except RoparError as exc:
            raise RoparError(f"the motion to edit: {exc}") from None
        canon = canon.astype(np.float64)
        if report["unit"] != "m" or report["up_axis"] != "+Y" or report["mirrored"]:
            return canon, lambda j: j, canon
        a = math.radians(report["yaw_deg"])
        q0 = np.array([math.cos(a / 2), 0.0, math.sin(a / 2), 0.0])
        origin = src[0, 0] * np.array([1.0, 0.0, 1.0]) - np.array([0.0, report["floor_shift_m"], 0.0])

        def to_output(j):
            return feats.qrot(feats.qinv(q0), j) + origin

        if np.abs(to_output(canon) - src).max() > 1e-4:  # the report did not describe a rigid placement
            return canon, lambda j: j, canon
        return canon, to_output, src

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
        if frames is None and seconds is None and default_frames > MAX_SECONDS * sk.FPS:
            raise RoparError(f"the motion is too long to edit ({default_frames / sk.FPS:g} s at 20 fps; "
                             f"at most {MAX_SECONDS:g} s)")
        return self.check_request([prompt], frames, seconds, [seed], cfg, steps, temperature,
                                  default_frames=default_frames)

    @staticmethod
    def _parse_keep(keep_parts, keep_frames, length: int) -> np.ndarray:
        """-> (length, 5) bool cells to keep: the given parts (default all) within the given frame range
        [a, b) (default all frames)."""
        if keep_parts is None and keep_frames is None:
            raise RoparError("nothing to keep: give keep_parts and/or keep_frames")
        parts = np.ones(sk.NUM_PARTS, bool)
        if keep_parts is not None:
            try:
                names = sk.resolve_parts(keep_parts)
            except ValueError as exc:
                raise RoparError(str(exc)) from None
            parts = np.array([p in names for p in sk.PART_NAMES])
        frames = np.ones(length, bool)
        if keep_frames is not None:
            try:
                a, b = keep_frames
                a, b = int(a), int(b)
            except (TypeError, ValueError):
                raise RoparError(f"keep_frames must be (first, end), got {keep_frames!r}") from None
            if not 0 <= a < b:
                raise RoparError(f"keep_frames [{a}, {b}) is empty or negative")
            if a >= length:
                raise RoparError(f"keep_frames starts at frame {a} but the motion has only {length} frames")
            frames = np.zeros(length, bool)
            frames[a:min(b, length)] = True
        return frames[:, None] & parts[None, :]

    @torch.no_grad()
    def edit(self, prompt: str, motion, keep_parts=None, keep_frames=None, *, fps: float | None = None,
             frames=None, seconds=None, seed: int = 0, cfg=None, steps=None,
             temperature=1.0) -> GeneratedMotion:
        """Regenerate a motion except the kept cells: `keep_parts` (e.g. "torso,left_leg" or a list)
        and/or `keep_frames` (first, end) in 20-fps frames, end exclusive; both together keep those
        parts within those frames. The kept joints come back exactly as given (at 20 fps; in the
        caller's frame when the motion is in metres and Y up, else normalised). frames / seconds may
        make the result longer than the source (the extra frames are generated)."""
        src = self._source_joints(motion, fps)
        req = self._check_edit(prompt, seed, cfg, steps, temperature, frames, seconds, len(src))
        T = req.frames[0]
        kept = np.zeros((T, sk.NUM_PARTS), bool)
        n_src = min(T, len(src))
        kept[:n_src] = self._parse_keep(keep_parts, keep_frames, len(src))[:n_src]
        canon, to_output, reference = self._canonical(src)
        src_feats = self._features_of(canon, T)
        features, generated = self._conditioned(req.prompts[0], req.seeds[0], req, src_feats, kept)
        generated = generated[:T]
        target = np.zeros((T, sk.NUM_JOINTS, 3))
        target[:n_src] = canon[:n_src]
        generated = self._align(generated, target, kept)
        out = to_output(compose(generated, target, kept))
        exact = cell_joints(kept[:n_src])
        out[:n_src][exact] = reference[:n_src][exact]  # bit-exact, not a round trip through the placement
        return self._edited(req, out)

    @torch.no_grad()
    def inbetween(self, motion_a, motion_b, frames, prompt: str = "a person moves", *,
                  fps: float | None = None, seed: int = 0, cfg=None, steps=None,
                  temperature=1.0) -> GeneratedMotion:
        """A then `frames` generated frames then B. A comes back exactly (in its own frame, see edit);
        B exactly up to a rigid move (a turn about Y and a shift on the ground) that continues the
        generated transition."""
        a = self._source_joints(motion_a, fps)
        b = self._source_joints(motion_b, fps)
        gap = self.frames_for(frames=frames)
        total = len(a) + gap + len(b)
        req = self._check_edit(prompt, seed, cfg, steps, temperature, frames=total)
        canon_a, to_output, reference_a = self._canonical(a)
        canon_b, _, _ = self._canonical(b)
        fa, fb = self._features_of(canon_a, len(a)), self._features_of(canon_b, len(b))
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
        generated = self._align(generated, target, only_a)
        rot, shift = _yaw_fit(canon_b.reshape(-1, 3), generated[len(a) + gap:].reshape(-1, 3),
                              np.ones(len(b) * sk.NUM_JOINTS))
        target[len(a) + gap:] = _apply(rot, shift, canon_b)
        out = to_output(compose(generated, target, kept))
        out[: len(a)] = reference_a  # bit-exact
        return self._edited(req, out)

    # -- editing helpers ---------------------------------------------------------------------------
    @staticmethod
    def _features_of(canon: np.ndarray, length: int) -> np.ndarray:
        """Canonical joints (T, 22, 3) -> (length, 263) features (the last frame repeated once so that
        every frame has a feature row; rows past the source repeat its last row)."""
        padded = np.concatenate([canon, canon[-1:]])
        f = feats.joints_to_features(padded)  # (T, 263)
        if length > len(f):
            f = np.concatenate([f, np.repeat(f[-1:], length - len(f), 0)])
        return f[:length]

    @staticmethod
    def _align(generated: np.ndarray, target: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """Turn/shift the generated motion on the ground so that its kept cells best match the target's
        (the generation integrates its root path from its own frame 0)."""
        joint_w = cell_joints(kept).astype(np.float64)  # (T, 22)
        if joint_w.sum() == 0:
            return generated
        rot, shift = _yaw_fit(generated.reshape(-1, 3), target.reshape(-1, 3), joint_w.reshape(-1))
        return _apply(rot, shift, generated)

    def _edited(self, req: Request, joints: np.ndarray) -> GeneratedMotion:
        """Final edited joints -> GeneratedMotion; features are re-derived from them so that all three
        (joints, rotations, features) describe the same, pasted motion."""
        return self._finish(req.prompts[0], req.seeds[0], self._features_of(joints, len(joints)), joints,
                            req.frames[0])
