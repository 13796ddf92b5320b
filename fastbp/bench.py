"""Race fastbp against the book-style numpy reference: ``python -m fastbp.bench``.

One step is a full Dense+ReLU forward and backward pass: ``fastbp.DenseReLU`` against
``fastbp.reference``'s Layer_Dense + Activation_ReLU, both built from the same seed.

How it measures, for each size and dtype:

* both layers run one step first and their results are compared (a benchmark of a wrong
  answer is worth nothing);
* a batch of ``n`` steps is sized so that one reference batch takes about 20 ms;
* reference and fastbp batches then alternate ``--repeat`` times in this one process (the
  order flips each round), so both see the same machine noise;
* the table gives the median time per step of each, and the median of the paired ratios
  reference/fastbp, with the spread of those ratios (25th-75th percentile);
* a third runner, timed in the same rounds, does nothing but the step's three matrix
  products with numpy into preallocated arrays (``NumpyProducts``). The ``bound`` column is
  the median of reference/products: the speedup a step would reach if it cost only those
  products at the speed numpy's OpenBLAS runs them. Where the products dominate (784
  inputs and up) and the bound is below a target, no step that leaves its products to that
  BLAS can meet the target; on the thin spiral layers it is mostly numpy's call cost.

The machine, BLAS libraries and threads (threadpoolctl) are printed above the table, and
whether OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were set (they change numpy's BLAS kernels).

Two BLAS thread pools live in this process: numpy's OpenBLAS (the reference) and fastbp's
(the scipy-openblas32 package's). An idle OpenBLAS thread spins for about 2**28 cycles (~0.1 s) before it sleeps, so
when the two alternate with more than one thread, each runs against the other's spinning
threads and both slow down erratically. Unless OPENBLAS_THREAD_TIMEOUT is already set (or
``--keep-env`` is given), the benchmark re-runs itself with OPENBLAS_THREAD_TIMEOUT=4
(threads sleep almost at once). It applies to both libraries alike, and the header says so.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

import fastbp
from fastbp import reference
from fastbp._config import cpu_name
from fastbp._dispatch import KERNEL_VARIANT

# threadpoolctl comes with the benchmarks' extra (pip install "fastbp[bench]"); without it
# the command says so and stops (main), rather than fail on import.
try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    threadpool_info = threadpool_limits = None

# (samples, inputs, neurons): the book's spiral layer and its output layer, an MNIST-sized
# hidden layer at a small and a larger batch, and one large square layer.
DEFAULT_SIZES = [(300, 2, 64), (300, 64, 3), (32, 784, 128), (256, 784, 256),
                 (1024, 1024, 1024)]
DTYPES = {"float64": np.float64, "float32": np.float32}
BATCH_SECONDS = 0.02
THREAD_TIMEOUT = "4"


def _parse_size(text):
    try:
        samples, inputs, neurons = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} must be SAMPLESxINPUTSxNEURONS, e.g. 300x2x64"
        ) from None
    if min(samples, inputs, neurons) < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}: every dimension must be >= 1")
    return samples, inputs, neurons


def _parse_list(kind):
    def parse(text):
        return [kind(item) for item in text.split(",") if item]
    return parse


def size_label(size):
    samples, inputs, neurons = size
    return f"{samples}, {inputs}\u2192{neurons}"


def machine_info():
    """What the figures depend on: CPU, versions, BLAS builds and threads, OpenBLAS env."""
    blas = [
        {key: lib.get(key) for key in ("internal_api", "version", "architecture",
                                       "num_threads", "prefix", "filepath")}
        for lib in threadpool_info() if lib.get("user_api") == "blas"
    ]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastbp": fastbp.__version__,
        "fastbp_kernels": KERNEL_VARIANT,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
    }


def make_case(size, dtype, seed=0):
    """``X, dvalues`` and the reference's and fastbp's DenseReLU with the same parameters
    (``size`` is samples, inputs, neurons)."""
    samples, inputs, neurons = size
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, inputs)).astype(dtype)
    dvalues = rng.standard_normal((samples, neurons)).astype(dtype)
    ref = reference.DenseReLU(inputs, neurons, dtype=dtype, rng=seed)
    fast = fastbp.DenseReLU(inputs, neurons, dtype=dtype, rng=seed)
    # Non-zero biases, so that the bias path is exercised too.
    biases = (0.01 * rng.standard_normal((1, neurons))).astype(dtype)
    ref.dense.biases = biases.copy()
    fast.biases = biases.copy()
    return X, dvalues, ref, fast


class TorchDenseReLU:
    """PyTorch's nn.Linear + relu with autograd, as a layer with the book's attributes.

    Built from fastbp's weights; its tensors are made once, so a step times only PyTorch's
    forward and backward (``out.backward(dvalues)``, gradients reset to None each step).
    """

    def __init__(self, layer, X, dvalues):
        import torch

        self._torch = torch
        inputs, neurons = layer.weights.shape
        tdtype = torch.float64 if layer.weights.dtype == np.float64 else torch.float32
        self.linear = torch.nn.Linear(inputs, neurons, dtype=tdtype)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(layer.weights.T.copy()))
            self.linear.bias.copy_(torch.from_numpy(layer.biases.reshape(-1).copy()))
        self._X = torch.from_numpy(X.copy()).requires_grad_(True)
        self._dvalues = torch.from_numpy(dvalues.copy())

    def forward(self, X):
        self._out = self._torch.relu(self.linear(self._X))

    def backward(self, dvalues):
        self.linear.weight.grad = self.linear.bias.grad = self._X.grad = None
        self._out.backward(self._dvalues)

    # The book's attribute names, for the agreement check.
    output = property(lambda self: self._out.detach().numpy())
    dinputs = property(lambda self: self._X.grad.numpy())
    dweights = property(lambda self: self.linear.weight.grad.numpy().T)
    dbiases = property(lambda self: self.linear.bias.grad.numpy()[None, :])


class NumpyProducts:
    """Only the step's three matrix products, by numpy's BLAS into preallocated arrays:
    ``X·W``, ``Xᵀ·dvalues`` and ``dvalues·Wᵀ``.

    The reference's time over this one's (the ``bound`` column) is the speedup a step would
    reach if it cost nothing but these three products, run as fast as numpy's OpenBLAS runs
    them (fastbp calls the scipy-openblas32 package's OpenBLAS, the same kernels in another
    build). Where the
    products dominate the step (784 inputs and up), a target above it asks for products
    faster than that BLAS. At the spiral's sizes the products are small, this time is
    mostly numpy's per-call cost, and the bound says little.
    """

    def __init__(self, layer, X, dvalues):
        W = layer.weights
        self._W = W
        self.output = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)
        self.dweights = np.empty(W.shape, dtype=W.dtype)
        self.dinputs = np.empty(X.shape, dtype=W.dtype)

    def forward(self, X):
        self._X = X
        np.matmul(X, self._W, out=self.output)

    def backward(self, dvalues):
        np.matmul(self._X.T, dvalues, out=self.dweights)
        np.matmul(dvalues, self._W.T, out=self.dinputs)


def _step(layer, X, dvalues):
    layer.forward(X)
    layer.backward(dvalues)


def check_agreement(ref, other, X, dvalues):
    """Largest error of ``other``'s step relative to the reference's scale, over all outputs."""
    _step(ref, X, dvalues)
    _step(other, X, dvalues)
    worst = 0.0
    for name in ("output", "dinputs", "dweights", "dbiases"):
        r = np.asarray(getattr(ref, name), dtype=np.float64)
        f = np.asarray(getattr(other, name), dtype=np.float64)
        scale = max(float(np.abs(r).max(initial=0.0)), 1e-30)
        worst = max(worst, float(np.abs(r - f).max(initial=0.0)) / scale)
    return worst


def _time_batch(layer, X, dvalues, n):
    start = time.perf_counter()
    for _ in range(n):
        layer.forward(X)
        layer.backward(dvalues)
    return (time.perf_counter() - start) / n


def measure(size, dtype, repeat, torch=False):
    """Interleaved timing of one configuration; returns a result dict.

    Ratios are per round: reference/fastbp (``speedup``), reference/NumpyProducts
    (``blas_bound``) and, with ``torch``, pytorch/fastbp (``torch_speedup``); each
    reported as the median over the rounds.
    """
    X, dvalues, ref, fast = make_case(size, dtype)
    layers = {"reference": ref, "fastbp": fast}
    if torch:
        layers["pytorch"] = TorchDenseReLU(fast, X, dvalues)
    errors = {name: check_agreement(ref, layer, X, dvalues)
              for name, layer in layers.items() if name != "reference"}
    layers["products"] = NumpyProducts(fast, X, dvalues)
    # Batch size: enough steps of the slowest for ~20 ms, and the same count for all.
    slowest = max(_time_batch(layer, X, dvalues, 1) for layer in layers.values())
    n = max(1, int(BATCH_SECONDS / max(slowest, 1e-9)))
    for layer in layers.values():
        _time_batch(layer, X, dvalues, n)  # warm-up (buffers, caches, BLAS threads)
    times = {name: [] for name in layers}
    order = list(layers)
    for r in range(repeat):
        for name in (order if r % 2 == 0 else order[::-1]):
            times[name].append(_time_batch(layers[name], X, dvalues, n))
    fast_times = np.array(times["fastbp"])
    samples, inputs, neurons = size
    flops = 3 * 2 * samples * inputs * neurons  # forward product + two backward products
    fast_median = float(np.median(fast_times))
    ratios = np.array(times["reference"]) / fast_times
    bounds = np.array(times["reference"]) / np.array(times["products"])
    result = {
        "size": list(size),
        "dtype": np.dtype(dtype).name,
        "steps_per_batch": n,
        "repeat": repeat,
        "reference_s": float(np.median(times["reference"])),
        "fastbp_s": fast_median,
        "speedup": float(np.median(ratios)),
        "speedup_p25": float(np.percentile(ratios, 25)),
        "speedup_p75": float(np.percentile(ratios, 75)),
        "fastbp_gflops": flops / fast_median / 1e9,
        "max_rel_error": errors["fastbp"],
        "products_s": float(np.median(times["products"])),
        "blas_bound": float(np.median(bounds)),
    }
    if torch:
        torch_ratios = np.array(times["pytorch"]) / fast_times
        result.update(
            pytorch_s=float(np.median(times["pytorch"])),
            torch_speedup=float(np.median(torch_ratios)),
            torch_speedup_p25=float(np.percentile(torch_ratios, 25)),
            torch_speedup_p75=float(np.percentile(torch_ratios, 75)),
            pytorch_max_rel_error=errors["pytorch"],
        )
    return result


def matmul_gflops(dtype, n=2048, repeat=5):
    """numpy's own matmul rate on an n×n product (median of ``repeat``): the machine's
    practical peak, measured under the same thread limits as the table."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty((n, n), dtype=dtype)
    np.matmul(A, B, out=C)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(A, B, out=C)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times)) / 1e9


def format_time(seconds):
    """``seconds`` in µs below a millisecond, else in ms, right-aligned."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} µs"
    return f"{seconds * 1e3:8.2f} ms"


def format_table(results):
    torch = any("pytorch_s" in res for res in results)
    header = (f"{'threads':>7}  {'dtype':<7}  {'samples, in→out':<17}  {'reference':>11}  "
              f"{'fastbp':>11}  {'speedup':>8}  {'(p25-p75)':>13}  {'GFLOP/s':>8}  "
              f"{'rel.err':>8}  {'bound':>7}")
    if torch:
        header += f"  {'pytorch':>11}  {'vs torch':>8}"
    lines = [header, "-" * len(header)]
    for res in results:
        line = (
            f"{res['threads']!s:>7}  {res['dtype']:<7}  {size_label(res['size']):<17}  "
            f"{format_time(res['reference_s']):>11}  {format_time(res['fastbp_s']):>11}  "
            f"{res['speedup']:7.2f}×  "
            f"({res['speedup_p25']:5.2f}-{res['speedup_p75']:5.2f})  "
            f"{res['fastbp_gflops']:8.1f}  {res['max_rel_error']:8.1e}  "
            f"{res['blas_bound']:6.2f}×"
        )
        if "pytorch_s" in res:
            line += f"  {format_time(res['pytorch_s']):>11}  {res['torch_speedup']:7.2f}×"
        lines.append(line)
    return "\n".join(lines)


def plot(results, path):
    """Speedup against layer size (FLOPs a step), a line per dtype and thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    groups = sorted({(r["dtype"], r["threads"]) for r in results})
    for index, (dtype, threads) in enumerate(groups):
        rows = sorted((r for r in results if r["dtype"] == dtype and r["threads"] == threads),
                      key=lambda r: np.prod(r["size"]))
        flops = [6 * np.prod(r["size"]) for r in rows]
        line, = ax.plot(flops, [r["speedup"] for r in rows], marker="o",
                        label=f"vs numpy reference, {dtype}, {threads} thread(s)")
        if all("blas_bound" in r for r in rows):
            ax.plot(flops, [r["blas_bound"] for r in rows], linestyle=":",
                    color=line.get_color(),
                    label=f"bound: reference / numpy's 3 products, {dtype}, {threads} thread(s)")
        if all("torch_speedup" in r for r in rows):
            ax.plot(flops, [r["torch_speedup"] for r in rows], marker="s", linestyle="--",
                    color=line.get_color(), label=f"vs PyTorch, {dtype}, {threads} thread(s)")
        if index == 0:  # one label per size is enough
            for r, x in zip(rows, flops):
                ax.annotate(size_label(r["size"]), (x, r["speedup"]), fontsize=7,
                            textcoords="offset points", xytext=(3, -10))
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FLOPs in one Dense+ReLU forward+backward step")
    ax.set_ylabel("speedup of fastbp (other's time / fastbp's time)")
    ax.set_title("fastbp.DenseReLU step, median of interleaved paired ratios")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_machine(info):
    lines = [f"CPU: {info['cpu']} ({info['cpu_count']} logical cores)",
             f"Python {info['python']}, numpy {info['numpy']}, fastbp {info['fastbp']} "
             f"({info['fastbp_kernels']} kernels)"]
    for lib in info["blas"]:
        lines.append(
            f"BLAS: {lib['internal_api']} {lib['version']} ({lib['architecture']} kernels, "
            f"{lib['num_threads']} threads) {os.path.basename(lib['filepath'] or '')}"
        )
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT"):
        value = info[var]
        lines.append(f"{var}: {'not set' if value is None else repr(value)}")
    return "\n".join(lines)


def torch_version():
    """', PyTorch x.y' if this process imported PyTorch, else ''."""
    torch = sys.modules.get("torch")
    return f", PyTorch {torch.__version__}" if torch is not None else ""


def blas_owner(lib):
    """'numpy: ' or 'fastbp: ' by the folder a BLAS library was loaded from."""
    path = lib.get("filepath") or ""
    for owner, label in (("numpy", "numpy: "), ("scipy_openblas32", "fastbp: ")):
        if f"{owner}.libs" in path or f"{os.sep}{owner}{os.sep}" in path:
            return label
    return ""


def format_markdown(info, results, command):
    """The run as a Markdown section: the command, date, machine and BLAS, then the table."""
    blas = "; ".join(f"{blas_owner(lib)}{lib['internal_api']} {lib['version']} "
                     f"({lib['architecture']} kernels, {lib['num_threads']} threads by default)"
                     for lib in info["blas"])
    env = ", ".join(f"{var} {'not set' if info[var] is None else repr(info[var])}"
                    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    torch = any("pytorch_s" in res for res in results)
    lines = [
        f"`{command}`, {info['date']}: {info['cpu']} ({info['cpu_count']} logical cores), "
        f"Python {info['python']}, numpy {info['numpy']}, fastbp {info['fastbp']} "
        f"({info['fastbp_kernels']} kernels){torch_version()}; BLAS: {blas}; {env}.",
        "",
        "| threads | dtype | samples, in→out | reference | fastbp | speedup (p25-p75) "
        "| bound |" + (" PyTorch | vs PyTorch |" if torch else ""),
        "|---:|---|---|---:|---:|---:|---:|" + ("---:|---:|" if torch else ""),
    ]
    for res in results:
        line = (f"| {res['threads']} | {res['dtype']} | {size_label(res['size'])} "
                f"| {format_time(res['reference_s']).strip()} "
                f"| {format_time(res['fastbp_s']).strip()} "
                f"| {res['speedup']:.2f}× ({res['speedup_p25']:.2f}-{res['speedup_p75']:.2f}) "
                f"| {res['blas_bound']:.2f}× |")
        if torch:
            line += (f" {format_time(res['pytorch_s']).strip()} | {res['torch_speedup']:.2f}× |"
                     if "pytorch_s" in res else " | |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def require_bench_extra(command):
    """Stop ``command`` with a message naming the extra when threadpoolctl is missing."""
    if threadpool_limits is None:
        sys.exit(f"{command} needs threadpoolctl, which the benchmarks' extra installs: "
                 "pip install 'fastbp[bench]'")


def main(argv=None):
    require_bench_extra("python -m fastbp.bench")
    parser = argparse.ArgumentParser(
        prog="python -m fastbp.bench",
        description="Time one Dense+ReLU forward+backward step: fastbp against the "
                    "book-style numpy reference, interleaved in one process.",
    )
    parser.add_argument("--sizes", type=_parse_list(_parse_size), default=DEFAULT_SIZES,
                        metavar="SxIxN[,...]",
                        help="layer sizes as samples x inputs x neurons "
                             "(default: 300x2x64,300x64x3,32x784x128,256x784x256,"
                             "1024x1024x1024)")
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    parser.add_argument("--threads", type=_parse_list(int), default=None, metavar="N[,N...]",
                        help="BLAS threads for numpy's and fastbp's BLAS alike (threadpoolctl); "
                             "default: leave the BLAS default")
    parser.add_argument("--repeat", type=int, default=21,
                        help="interleaved rounds per configuration (default 21)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write the command, machine and table as Markdown")
    parser.add_argument("--torch", action="store_true",
                        help="add PyTorch (nn.Linear + relu, autograd) when it is installed")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw speedup against layer size (needs matplotlib)")
    parser.add_argument("--keep-env", action="store_true",
                        help="do not re-run with OPENBLAS_THREAD_TIMEOUT=%s (see module doc)"
                             % THREAD_TIMEOUT)
    args = parser.parse_args(argv)
    if not args.keep_env and "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        # OpenBLAS reads it when it loads, which happened at import: start again with it,
        # importing from exactly this process's path (not the current folder first, which
        # "python -c" would add: a source checkout there has no compiled modules).
        env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT=THREAD_TIMEOUT,
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        code = "import sys; del sys.path[0]; from fastbp.bench import main; sys.exit(main())"
        cmd = [sys.executable, "-c", code, *(sys.argv[1:] if argv is None else argv)]
        sys.stdout.flush()
        os.execve(sys.executable, cmd, env)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.threads is not None and any(t < 1 for t in args.threads):
        parser.error("--threads must be >= 1")

    if args.torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: --torch ignored", file=sys.stderr)
            args.torch = False
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install matplotlib")

    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    thread_counts = args.threads or [None]
    configs = [(t, d, s) for t in thread_counts for d in dtypes for s in args.sizes]

    info = machine_info()
    print(format_machine(info))
    print(f"One Dense+ReLU forward+backward step; median of {args.repeat} interleaved rounds.\n",
          flush=True)

    results = []
    for index, (threads, dtype, size) in enumerate(configs, 1):
        print(f"[{index:>2}/{len(configs)}] threads={threads or 'default'} {dtype} "
              f"{size_label(size)} ...", file=sys.stderr, flush=True)
        if args.torch:
            torch.set_num_threads(threads or os.cpu_count())
        with threadpool_limits(limits=threads, user_api="blas"):
            res = measure(size, DTYPES[dtype], args.repeat, torch=args.torch)
            res["threads"] = threads or max(lib["num_threads"] for lib in info["blas"])
        results.append(res)

    print(format_table(results))
    large = [r for r in results if min(r["size"]) >= 1024]
    if large:
        print("\nAgainst the machine's limit (numpy's matmul of 2048×2048, same run and threads):")
        for threads, dtype in sorted({(r["threads"], r["dtype"]) for r in large}):
            with threadpool_limits(limits=threads, user_api="blas"):
                peak = matmul_gflops(DTYPES[dtype])
            for r in large:
                if (r["threads"], r["dtype"]) == (threads, dtype):
                    r["numpy_matmul_2048_gflops"] = peak
                    print(f"  {threads} thread(s) {dtype} {size_label(r['size'])}: fastbp "
                          f"{r['fastbp_gflops']:.1f} GFLOP/s = "
                          f"{100 * r['fastbp_gflops'] / peak:.0f}% of numpy's {peak:.1f}")
    tolerance = {"float64": 1e-10, "float32": 1e-4}
    wrong = [r for r in results if r["max_rel_error"] > tolerance[r["dtype"]]]
    if wrong:
        print("\nWARNING: fastbp disagreed with the reference on: "
              + ", ".join(f"{r['dtype']} {size_label(r['size'])}" for r in wrong))
    if args.plot:
        plot(results, args.plot)
        print(f"\nwrote {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results}, f, indent=2)
        print(f"\nwrote {args.json}")
    if args.markdown:
        command = " ".join(["python -m fastbp.bench",
                            *(sys.argv[1:] if argv is None else argv)])
        with open(args.markdown, "w") as f:
            f.write(format_markdown(info, results, command))
        print(f"\nwrote {args.markdown}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
