"""Decode attention over a paged KV cache, for the continuous-batching loop (:mod:`rrm_eval.models._continuous`).

Why a kernel of our own: rows of a continuous batch hold contexts from a few hundred to ~10k tokens. Dense
attention over a padded ``(rows, max context)`` cache reads every row up to the longest one, several times the bytes
the rows actually hold, and a KV cache shaped ``rows x longest possible row`` does not fit the device at the batch
sizes that pay. So K/V live in fixed-size pages handed out from one pool, each row lists its pages (block table),
and the kernel reads exactly the pages a row owns.

The Triton kernel (CUDA) is split-K flash decoding: program ``(row, kv head, split)`` walks its share of the row's
pages with an online softmax over the ``group`` query heads of that KV head (grouped-query attention without
repeating K/V), and a second kernel merges the splits. The grid depends only on the batch shape, and the row
lengths are read on the device, so one CUDA graph serves every step. ``reference_attention`` is the same maths in
plain torch (CPU, and the check the GPU bench runs against the kernel).
"""

from __future__ import annotations

from typing import Any

_KERNELS: dict[str, Any] = {}


def reference_attention(q: Any, k_pool: Any, v_pool: Any, table: Any, lengths: Any, scale: float) -> Any:
    """q (rows, kv, group, d); pools (pages, kv, page, d); table (rows, pages per row) int; lengths (rows,).
    Gathers each row's pages into a dense (rows, kv, span, d) view and masks columns past its length."""
    import torch

    rows, n_kv, _, d = q.shape
    page = k_pool.shape[2]
    n_pages = max(1, -(-int(lengths.max()) // page))
    idx = table[:, :n_pages].long()
    k = k_pool[idx].permute(0, 2, 1, 3, 4).reshape(rows, n_kv, n_pages * page, d)
    v = v_pool[idx].permute(0, 2, 1, 3, 4).reshape(rows, n_kv, n_pages * page, d)
    cols = torch.arange(n_pages * page, device=q.device)
    mask = (cols[None] < lengths[:, None])[:, None, None]
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def triton_available() -> bool:
    try:
        import importlib

        importlib.import_module("triton")
    except ImportError:
        return False
    return True


def _kernels() -> dict[str, Any]:
    """Compile-on-first-use Triton kernels (imported lazily: CPU installs have no Triton)."""
    if _KERNELS:
        return _KERNELS
    import importlib

    # Imported by name: CPU installs (and the type checker there) have no Triton.
    triton = importlib.import_module("triton")
    tl = importlib.import_module("triton.language")

    @triton.jit  # type: ignore[untyped-decorator]
    def split_kernel(  # type: ignore[no-untyped-def]
        q_ptr, k_ptr, v_ptr, table_ptr, len_ptr, m_ptr, l_ptr, o_ptr,
        s_qr, s_qh, s_qg,
        s_kp, s_kh, s_kt,
        s_tr,
        scale,
        GROUP: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, PAGE: tl.constexpr,  # type: ignore[name-defined]
        SPLITS: tl.constexpr, PREC: tl.constexpr,  # type: ignore[name-defined]
    ):  # fmt: skip
        row = tl.program_id(0)
        head = tl.program_id(1)
        split = tl.program_id(2)
        length = tl.load(len_ptr + row)
        n_pages = tl.cdiv(length, PAGE)
        per = tl.cdiv(n_pages, SPLITS)
        p0 = split * per
        p1 = tl.minimum(p0 + per, n_pages)
        g = tl.arange(0, GP)
        d = tl.arange(0, D)
        t = tl.arange(0, PAGE)
        q = tl.load(
            q_ptr + row * s_qr + head * s_qh + g[:, None] * s_qg + d[None, :], mask=g[:, None] < GROUP, other=0.0
        )
        m = tl.full([GP], float("-inf"), tl.float32)
        lsum = tl.zeros([GP], tl.float32)
        acc = tl.zeros([GP, D], tl.float32)
        for p in range(p0, p1):
            page = tl.load(table_ptr + row * s_tr + p).to(tl.int64)
            off = page * s_kp + head * s_kh + t[:, None] * s_kt + d[None, :]
            k = tl.load(k_ptr + off)
            qk = tl.dot(q, tl.trans(k), input_precision=PREC) * scale
            qk = tl.where((p * PAGE + t)[None, :] < length, qk, float("-inf"))
            m_new = tl.maximum(m, tl.max(qk, 1))
            alpha = tl.exp(m - m_new)
            w = tl.exp(qk - m_new[:, None])
            lsum = lsum * alpha + tl.sum(w, 1)
            v = tl.load(v_ptr + off)
            acc = acc * alpha[:, None] + tl.dot(w.to(v.dtype), v, input_precision=PREC)
            m = m_new
        base = (row * tl.num_programs(1) + head) * SPLITS + split
        tl.store(m_ptr + base * GP + g, m)
        tl.store(l_ptr + base * GP + g, lsum)
        tl.store(o_ptr + (base * GP + g[:, None]) * D + d[None, :], acc)

    @triton.jit  # type: ignore[untyped-decorator]
    def merge_kernel(  # type: ignore[no-untyped-def]
        m_ptr, l_ptr, o_ptr, out_ptr,
        GROUP: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, SPLITS: tl.constexpr,  # type: ignore[name-defined]
    ):  # fmt: skip
        rh = tl.program_id(0)  # row * kv heads + head
        s = tl.arange(0, SPLITS)
        g = tl.arange(0, GP)
        d = tl.arange(0, D)
        top = tl.max(tl.load(m_ptr + (rh * SPLITS + s[:, None]) * GP + g[None, :]), 0)  # (GP,)
        den = tl.zeros([GP], tl.float32)
        acc = tl.zeros([GP, D], tl.float32)
        for i in range(SPLITS):
            mi = tl.load(m_ptr + (rh * SPLITS + i) * GP + g)
            # A split that held no page keeps m = -inf and weighs nothing; every row has at least one page.
            wi = tl.where(mi == float("-inf"), 0.0, tl.exp(mi - top))
            den += tl.load(l_ptr + (rh * SPLITS + i) * GP + g) * wi
            acc += tl.load(o_ptr + ((rh * SPLITS + i) * GP + g[:, None]) * D + d[None, :]) * wi[:, None]
        out = acc / den[:, None]
        tl.store(
            out_ptr + (rh * GROUP + g[:, None]) * D + d[None, :],
            out.to(out_ptr.dtype.element_ty),
            mask=g[:, None] < GROUP,
        )

    _KERNELS.update(split=split_kernel, merge=merge_kernel, next_pow2=triton.next_power_of_2)
    return _KERNELS


class PagedAttention:
    """Workspace and launch of the paged decode kernels for one batch shape (buffers reused by CUDA graphs)."""

    def __init__(self, rows: int, n_kv: int, group: int, head_dim: int, page: int, device: Any, dtype: Any) -> None:
        import torch

        ks = _kernels()
        self.rows, self.n_kv, self.group, self.head_dim, self.page = rows, n_kv, group, head_dim, page
        self.gp = max(16, int(ks["next_pow2"](group)))  # tl.dot needs 16 rows at least
        # Enough programs to cover the GPU several times over, fewer splits when rows alone do it.
        self.splits = int(min(16, max(2, ks["next_pow2"](max(1, 4096 // max(1, rows * n_kv))))))
        shape = (rows, n_kv, self.splits, self.gp)
        self.m = torch.empty(shape, dtype=torch.float32, device=device)
        self.l = torch.empty(shape, dtype=torch.float32, device=device)
        self.o = torch.empty((*shape, head_dim), dtype=torch.float32, device=device)
        self.out = torch.empty((rows, n_kv, group, head_dim), dtype=dtype, device=device)
        # float32 models (the GPU check against generate) must not drop to TF32 in the dot products.
        self.precision = "ieee" if dtype == torch.float32 else "tf32"

    def __call__(self, q: Any, k_pool: Any, v_pool: Any, table: Any, lengths: Any, scale: float) -> Any:
        ks = _kernels()
        q = q.contiguous()
        ks["split"][(self.rows, self.n_kv, self.splits)](
            q, k_pool, v_pool, table, lengths, self.m, self.l, self.o,
            q.stride(0), q.stride(1), q.stride(2),
            k_pool.stride(0), k_pool.stride(1), k_pool.stride(2),
            table.stride(0),
            scale,
            GROUP=self.group, GP=self.gp, D=self.head_dim, PAGE=self.page, SPLITS=self.splits,
            PREC=self.precision,
        )  # fmt: skip
        ks["merge"][(self.rows * self.n_kv,)](
            self.m, self.l, self.o, self.out, GROUP=self.group, GP=self.gp, D=self.head_dim, SPLITS=self.splits
        )
        return self.out


def packed_prefill_attention(torch: Any, device: Any, dtype: Any, head_dim: int) -> Any | None:
    """Causal attention over prompts packed back to back, one flash-attention call for the whole pack, or ``None``
    where the installed torch has no varlen attention for this device and dtype (CPU, float32, torch < 2.9).

    Why: the per-prompt alternative calls SDPA once per prompt per layer, and on CUDA a prompt length SDPA has not
    seen before costs tens of milliseconds of set-up (issue 13: a run's prefill at 10k prompt tok/s against 37k for a
    repeated pack). Flash varlen takes any mix of lengths in one launch with no per-shape state.

    The returned function takes q (T, heads, d), k/v (T, kv heads, d), the prompts' cumulative starts ``cu``
    (int32, n + 1), the longest prompt and the softmax scale; it returns (T, heads, d). ``torch.nn.attention.varlen``
    changed its signature across releases (2.9: ``is_causal``; 2.10: ``window_size`` and ``scale``; 2.12:
    ``enable_gqa``), so the call is built from the signature found, not from a version number.
    """
    if device.type != "cuda" or dtype not in (torch.bfloat16, torch.float16) or head_dim > 256:
        return None
    try:
        import inspect

        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    causal_kw: dict[str, Any] = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}
    if "window_size" not in params and "is_causal" not in params:
        return None
    has_scale, has_gqa = "scale" in params, "enable_gqa" in params

    def attend(q: Any, k: Any, v: Any, cu: Any, longest: int, scale: float) -> Any:
        group = q.shape[1] // k.shape[1]
        kw = dict(causal_kw)
        if group > 1 and has_gqa:
            kw["enable_gqa"] = True
        elif group > 1:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        if has_scale:
            kw["scale"] = scale
        else:  # the default scale is d ** -0.5: fold the model's own into q
            q = q * (scale * head_dim**0.5)
        return varlen_attn(q, k, v, cu, cu, longest, longest, **kw)

    return attend
