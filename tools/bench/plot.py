#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Render clonefd_bench's results: a markdown table and PNG plots.

    plot.py RESULTS_JSON OUT_DIR

RESULTS_JSON is what `c4 bench --spawn` writes (build/bench/results.json):
{"run": {...how it ran...}, "results": [the guest's JSON lines]}.
Writes OUT_DIR/table.md and OUT_DIR/{cycle,scaling,latency,memory}.png
(a plot whose section was not run is not written).  Run with the repo's
.venv python, which has matplotlib.
"""
import json
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Baseline of each cycle shape: what ratios in the table are against.
BASELINE = {"exit": "fork_waitpid", "vfork_exec": "vfork_waitpid"}
SHAPE_TITLE = {
    "exit": "child exits at once (fork shape)",
    "vfork_exec": "CLONE_VM | CLONE_VFORK + exec of a static program that exits",
}
SCALING_LABEL = {
    "clonefd_epoll": "epoll on CLONE_FD fds + read",
    "pidfd_epoll_waitid": "epoll on pidfds + waitid(P_PIDFD)",
    "signalfd_waitpid": "epoll on signalfd(SIGCHLD) + waitpid(WNOHANG) loop",
    "sigchld_selfpipe": "SIGCHLD handler + self-pipe + waitpid(WNOHANG) loop",
}
LATENCY_LABEL = {
    "clonefd_epoll": "CLONE_FD fd in epoll",
    "pidfd_epoll_waitid": "pidfd in epoll",
    "signalfd_waitpid": "signalfd(SIGCHLD) in epoll",
}


def q(d, scale=1.0, digits=2):
    """median [p10-p90] of a quantiles object."""
    f = f"{{:.{digits}f}}"
    return (f"{f.format(d['median'] * scale)} "
            f"[{f.format(d['p10'] * scale)}–{f.format(d['p90'] * scale)}]")


def verdict(value, limit, below=True):
    ok = value <= limit if below else value >= limit
    return "met" if ok else "**missed**"


class Results:
    def __init__(self, doc):
        self.run = doc.get("run", {})
        self.lines = doc["results"]
        metas = self.of("meta")
        if not metas:
            raise SystemExit("plot.py: no meta line in the results")
        self.meta = metas[0]
        if not self.of("done"):
            raise SystemExit("plot.py: the guest program did not finish")

    def of(self, kind, **match):
        return [r for r in self.lines if r["kind"] == kind
                and all(r.get(k) == v for k, v in match.items())]

    def one(self, kind, **match):
        found = self.of(kind, **match)
        return found[0] if found else None


def header(res):
    m, run = res.meta, res.run
    cyc = res.of("cycle")
    rounds = f"{cyc[0]['rounds']} rounds x {cyc[0]['cycles']} children" if cyc else "-"
    out = [
        "# CLONE_FD benchmarks",
        "",
        f"Where: {run.get('where', '?')}; kernel {m['kernel']}, {m['cpus']} CPUs.  "
        f"Reproduce: `{run.get('command', 'make bench ARGS=--spawn')}`.",
        "",
    ]
    if "TCG" in run.get("where", ""):
        out += [
            "**Under TCG (QEMU's emulator) absolute times are not claims** about "
            "real hardware; only the ratios between methods measured in the "
            "same boot mean something.",
            "",
        ]
    out += [
        f"Method: everything in one run, interleaved (a new order of the methods "
        f"every round); spawn cycles {rounds} per method.  Each figure is the "
        "median over rounds, with its spread as [p10–p90] of the per-round "
        "figures; a ratio is the median of the per-round ratios (both methods "
        "of the ratio measured in the same round).  Every child's exit status "
        f"({m['exit_status']}) is checked; the program fails on any error.",
        "",
    ]
    if not m["clone4"]:
        out += [f"clone4() methods skipped: {m['no_clone4']}", ""]
    return out


def targets(res):
    rows = []

    def cycle_ratio(shape, method, base):
        r = res.one("cycle", shape=shape, method=method)
        return r and r.get(f"ratio_vs_{base}")

    def add(what, target, value, fmt, ok):
        if value is None:
            rows.append(f"| {what} | {target} | not measured | — |")
        else:
            rows.append(f"| {what} | {target} | {fmt} | {ok} |")

    r = cycle_ratio("exit", "clone4_fd_read", "clone3_pidfd")
    add("clone4(CLONE_FD) + read vs clone3(CLONE_PIDFD) + poll + waitid, per cycle",
        "<= 0.90x", r, r and q(r), r and verdict(r["median"], 0.90))
    r = cycle_ratio("exit", "clone4_fd_read", "fork_waitpid")
    add("clone4(CLONE_FD) + read vs fork + waitpid, per cycle", "<= 1.00x",
        r, r and q(r), r and verdict(r["median"], 1.00))
    r = cycle_ratio("vfork_exec", "clone4_fd_read", "clone4_waitpid")
    add("the fd's cost: clone4 CLONE_VM|CLONE_VFORK + exec, with CLONE_FD + read "
        "vs without + waitpid", "<= 1.03x", r, r and q(r, digits=3),
        r and verdict(r["median"], 1.03))
    sc = {x["n"]: x for x in res.of("scaling", method="clonefd_epoll")}
    if sc:
        lo, hi = min(sc), max(sc)
        flat = sc[hi]["ns_per_exit"]["median"] / sc[lo]["ns_per_exit"]["median"]
        add(f"per-exit cost, epoll on clonefds, N={hi} vs N={lo}", "<= 1.2x",
            flat, f"{flat:.2f}x", verdict(flat, 1.2))
        sig = res.one("scaling", method="signalfd_waitpid", n=hi)
        v = sig and sc[hi]["ns_per_exit"]["median"] / sig["ns_per_exit"]["median"]
        add(f"per-exit cost at N={hi}, clonefds vs signalfd + waitpid loop", "< 1.00x",
            v, v and f"{v:.2f}x", v and ("met" if v < 1 else "**missed**"))
    else:
        add("per-exit cost, epoll on clonefds, largest N vs smallest", "<= 1.2x",
            None, "", "")
        add("per-exit cost at the largest N, clonefds vs signalfd", "< 1.00x",
            None, "", "")
    cl = res.one("latency", method="clonefd_epoll")
    pi = res.one("latency", method="pidfd_epoll_waitid")
    for stat, name in (("median", "median"), ("p99", "p99")):
        v = cl and pi and cl["ns"][stat] / pi["ns"][stat]
        add(f"wake-up latency {name}, clonefd vs pidfd", "<= 1.00x", v,
            v and f"{v:.2f}x ({cl['ns'][stat] / 1e3:.0f} vs {pi['ns'][stat] / 1e3:.0f} µs)",
            v and verdict(v, 1.0))
    ex = res.one("memory_extra", method="clonefd")
    key = "slab_bytes_per_child" if ex and "slab_bytes_per_child" in ex else "meminfo_bytes_per_child"
    v = ex and ex[key]
    add(f"kernel memory per live CLONE_FD child beyond a plain child ({key.split('_')[0]})",
        "<= 512 B", v, v and f"{q(v, digits=0)} B", v and verdict(v["median"], 512))
    return ["## Targets", "",
            "| what | target | figure: median [p10–p90] | |",
            "|---|---|---|---|", *rows, ""]


def cycle_tables(res):
    out = ["## 1-2. Spawn, exit, collect, per child", ""]
    for shape, base in BASELINE.items():
        rows = res.of("cycle", shape=shape)
        if not rows:
            continue
        bl = res.one("cycle", shape=shape, method=base)["label"]
        out += [f"### {SHAPE_TITLE[shape]}", "",
                f"| method | ratio to {bl} | µs per child | close() µs |",
                "|---|---:|---:|---:|"]
        for r in rows:
            close = q(r["close_ns"], 1e-3) if r["close_ns"]["median"] else "—"
            out.append(f"| {r['label']} | {q(r[f'ratio_vs_{base}'], digits=3)} | "
                       f"{q(r['ns'], 1e-3, 1)} | {close} |")
        out.append("")
    return out


def scaling_table(res):
    rows = res.of("scaling")
    if not rows:
        return []
    ns = sorted({r["n"] for r in rows})
    out = ["## 3. Event-loop scaling: N children released together, time to the "
           "last collected exit, per exit (µs)", "",
           "| method | " + " | ".join(f"N={n}" for n in ns) + f" | N={ns[-1]} / N={ns[0]} |",
           "|---|" + "---:|" * (len(ns) + 1)]
    for m in SCALING_LABEL:
        by_n = {r["n"]: r for r in rows if r["method"] == m}
        if not by_n:
            continue
        cells = [q(by_n[n]["ns_per_exit"], 1e-3, 1) if n in by_n else "—" for n in ns]
        growth = (by_n[ns[-1]]["ns_per_exit"]["median"] / by_n[ns[0]]["ns_per_exit"]["median"]
                  if ns[0] in by_n and ns[-1] in by_n else None)
        growth_cell = f"{growth:.2f}x" if growth else "—"
        out.append(f"| {SCALING_LABEL[m]} | " + " | ".join(cells) + f" | {growth_cell} |")
    r = rows[0]
    out += ["", f"{r['rounds']} rounds per N.  Children: CLONE_VM | CLONE_FILES, "
            "blocked on a futex, released by one FUTEX_WAKE.", ""]
    return out


def latency_table(res):
    rows = res.of("latency")
    if not rows:
        return []
    pi = res.one("latency", method="pidfd_epoll_waitid")
    out = ["## 4. Wake-up latency: child's last stamp to epoll_wait()'s return", "",
           "| method | median µs | p99 µs | median, p99 vs pidfd |", "|---|---:|---:|---:|"]
    for r in rows:
        rel = (f"{r['ns']['median'] / pi['ns']['median']:.2f}x, "
               f"{r['ns']['p99'] / pi['ns']['p99']:.2f}x") if pi else "—"
        out.append(f"| {LATENCY_LABEL.get(r['method'], r['method'])} | "
                   f"{r['ns']['median'] / 1e3:.1f} | {r['ns']['p99'] / 1e3:.1f} | {rel} |")
    out += ["", f"{rows[0]['samples']} samples per method, interleaved.", ""]
    return out


def memory_table(res):
    rows = res.of("memory")
    if not rows:
        return []
    out = ["## 5. Kernel memory per live child (bytes)", "",
           "| children | slab (slabinfo) | Slab+KernelStack+PageTables+VmallocUsed (meminfo) |",
           "|---|---:|---:|"]
    for r in rows:
        slab = q(r["slab_bytes_per_child"], digits=0) if "slab_bytes_per_child" in r else "—"
        out.append(f"| {r['method']} | {slab} | {q(r['meminfo_bytes_per_child'], digits=0)} |")
    for ex in res.of("memory_extra"):
        slab = q(ex["slab_bytes_per_child"], digits=0) if "slab_bytes_per_child" in ex else "—"
        out.append(f"| {ex['method']} minus {ex['vs']} | {slab} | "
                   f"{q(ex['meminfo_bytes_per_child'], digits=0)} |")
    out.append("")
    for ex in res.of("memory_extra"):
        caches = sorted(ex.get("caches", {}).items(), key=lambda kv: -abs(kv[1]))
        if caches:
            out.append(f"Slab caches that differ, {ex['method']} minus {ex['vs']} "
                       "(median bytes per child): "
                       + ", ".join(f"`{k}` {v:+.0f}" for k, v in caches) + ".")
    out += ["", f"{rows[0]['n']} live children per kind and round, {rows[0]['rounds']} "
            "rounds; children CLONE_VM | CLONE_FILES (plain ones from clone4 without "
            "CLONE_FD on the patched kernel, else clone3).", ""]
    return out


def skipped(res):
    rows = res.of("skip")
    if not rows:
        return []
    out = ["## Not measured", ""]
    by_reason = {}
    for r in rows:
        by_reason.setdefault(r["reason"], []).append(f"{r['section']} `{r['method']}`")
    for reason, what in by_reason.items():
        out.append(f"- {', '.join(dict.fromkeys(what))}: {reason}")
    return out + [""]


def plot_cycles(res, out_dir):
    shapes = [s for s in BASELINE if res.of("cycle", shape=s)]
    if not shapes:
        return
    fig, axes = plt.subplots(len(shapes), 1, figsize=(9, 2.2 + 1.6 * len(shapes) * 2),
                             squeeze=False)
    for ax, shape in zip(axes[:, 0], shapes):
        base = BASELINE[shape]
        rows = res.of("cycle", shape=shape)
        med = [r[f"ratio_vs_{base}"]["median"] for r in rows]
        lo = [m - r[f"ratio_vs_{base}"]["p10"] for m, r in zip(med, rows)]
        hi = [r[f"ratio_vs_{base}"]["p90"] - m for m, r in zip(med, rows)]
        y = range(len(rows))
        ax.barh(y, med, xerr=[lo, hi], color="tab:blue", alpha=0.7, capsize=3)
        ax.set_yticks(list(y), [r["label"] for r in rows], fontsize=8)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.invert_yaxis()
        base_label = res.one("cycle", shape=shape, method=base)["label"]
        ax.set_xlabel(f"time per child, ratio to {base_label} (median, p10–p90)")
        ax.set_title(SHAPE_TITLE[shape], fontsize=10)
    fig.suptitle(f"Spawn + exit + collect\n{caption(res)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "cycle.png", dpi=110)
    plt.close(fig)


def plot_scaling(res, out_dir):
    rows = res.of("scaling")
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for m, label in SCALING_LABEL.items():
        pts = sorted((r["n"], r["ns_per_exit"]) for r in rows if r["method"] == m)
        if not pts:
            continue
        x = [n for n, _ in pts]
        y = [d["median"] / 1e3 for _, d in pts]
        err = [[(d["median"] - d["p10"]) / 1e3 for _, d in pts],
               [(d["p90"] - d["median"]) / 1e3 for _, d in pts]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("N live children released together")
    ax.set_ylabel("µs per exit collected (median, p10–p90)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title(f"Event-loop scaling\n{caption(res)}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "scaling.png", dpi=110)
    plt.close(fig)


def plot_latency(res, out_dir):
    rows = res.of("latency")
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    x = range(len(rows))
    w = 0.38
    ax.bar([i - w / 2 for i in x], [r["ns"]["median"] / 1e3 for r in rows], w, label="median")
    ax.bar([i + w / 2 for i in x], [r["ns"]["p99"] / 1e3 for r in rows], w, label="p99")
    ax.set_xticks(list(x), [LATENCY_LABEL.get(r["method"], r["method"]) for r in rows],
                  fontsize=8)
    ax.set_ylabel("µs from the child's last stamp to epoll_wait()'s return")
    ax.legend()
    ax.set_title(f"Wake-up latency\n{caption(res)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=110)
    plt.close(fig)


def plot_memory(res, out_dir):
    rows = res.of("memory")
    if not rows:
        return
    key = "slab_bytes_per_child" if "slab_bytes_per_child" in rows[0] else "meminfo_bytes_per_child"
    fig, ax = plt.subplots(figsize=(6, 4))
    med = [r[key]["median"] for r in rows]
    err = [[m - r[key]["p10"] for m, r in zip(med, rows)],
           [r[key]["p90"] - m for m, r in zip(med, rows)]]
    ax.bar([r["method"] for r in rows], med, yerr=err, capsize=4, color="tab:green")
    for i, m in enumerate(med):
        ax.annotate(f"{m:.0f}", (i, m), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(f"bytes per live child ({key.split('_')[0]})")
    ax.set_title("Kernel memory per live child", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "memory.png", dpi=110)
    plt.close(fig)


def caption(res):
    """Where it ran, wrapped to fit above a plot, and how to read it."""
    where = res.run.get("where", "")
    return textwrap.fill(f"{where}: compare, do not quote", 100)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    res = Results(json.loads(Path(sys.argv[1]).read_text()))
    out_dir = Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    text = (header(res) + targets(res) + cycle_tables(res) + scaling_table(res)
            + latency_table(res) + memory_table(res) + skipped(res))
    plots = []
    for name, fn in (("cycle", plot_cycles), ("scaling", plot_scaling),
                     ("latency", plot_latency), ("memory", plot_memory)):
        fn(res, out_dir)
        if (out_dir / f"{name}.png").exists() and res.of(name):
            plots.append(f"![{name}]({name}.png)")
    text += ["## Plots", "", *plots, ""]
    (out_dir / "table.md").write_text("\n".join(text))
    print(f"plot.py: wrote {out_dir / 'table.md'} and {len(plots)} plots")


if __name__ == "__main__":
    main()
