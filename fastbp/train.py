"""Train the book's chapter-10 network: ``python -m fastbp.train``.

Spiral data (100 samples per class, 3 classes); Dense(2, 64) → ReLU → Dense(64, 3) →
softmax cross-entropy; Adam(learning_rate=0.05, decay=5e-7); 10,000 epochs. Prints the
final loss and accuracy and the time. ``--compare`` also trains the numpy reference
(fastbp.reference.train_spiral) from the same initial weights and data and prints both and
the speedup; ``--torch`` adds PyTorch (nn.Linear + relu + CrossEntropyLoss + its Adam with the
book's decay schedule), when it is installed.

A note on comparing losses: this training is chaotic. Two float64 runs whose arithmetic
differs only in rounding (a different BLAS, a different order of a sum) agree to ~1e-14 for
the first hundred epochs, then drift apart; after 10,000 epochs their losses typically differ
in the second digit, although both train equally well. The reference's and fastbp's
final losses are printed side by side, not hidden behind a tolerance. (The tests check
agreement along these 10,000 epochs segment by segment instead: tests/test_training.py.)

``--repeat N`` trains each N times, interleaved, and prints median times and the median of
the rounds' ratios: on a shared machine single runs vary by up to 2×.
"""

import argparse
import sys
import time

import numpy as np

import fastbp
from fastbp import reference
from fastbp.bench import require_bench_extra, threadpool_limits
from fastbp.datasets import spiral_data

OPTIMIZERS = {
    # name: (fastbp class, reference class, the chapter's hyperparameters)
    "adam": (fastbp.Adam, reference.Optimizer_Adam, dict(learning_rate=0.05, decay=5e-7)),
    "sgd": (fastbp.SGD, reference.Optimizer_SGD, dict(learning_rate=1.0, decay=1e-3,
                                                      momentum=0.9)),
    "adagrad": (fastbp.Adagrad, reference.Optimizer_Adagrad, dict(decay=1e-4)),
    "rmsprop": (fastbp.RMSprop, reference.Optimizer_RMSprop, dict(learning_rate=0.02,
                                                                  decay=1e-5, rho=0.999)),
}


def train_fastbp(X, y, *, optimizer, epochs, dtype, seed, print_every=0):
    """The chapter-10 network as a fastbp Model; returns (result dict, seconds)."""
    rng = np.random.default_rng(seed)  # dense1 then dense2, like reference.train_spiral
    model = fastbp.Model()
    model.add(fastbp.Dense(2, 64, dtype=dtype, rng=rng))
    model.add(fastbp.ReLU())
    model.add(fastbp.Dense(64, 3, dtype=dtype, rng=rng))
    fast_cls, _, params = OPTIMIZERS[optimizer]
    model.set(loss=fastbp.SoftmaxCrossEntropy(), optimizer=fast_cls(**params))
    model.finalize()
    start = time.perf_counter()
    result = model.train(X, y, epochs=epochs, print_every=print_every)
    return result, time.perf_counter() - start


def train_reference(X, y, *, optimizer, epochs, dtype, seed):
    _, ref_cls, params = OPTIMIZERS[optimizer]
    start = time.perf_counter()
    result = reference.train_spiral(X, y, optimizer=ref_cls(**params), epochs=epochs,
                                    dtype=dtype, rng=np.random.default_rng(seed))
    return result, time.perf_counter() - start


def train_torch(X, y, *, optimizer, epochs, dtype, seed, threads):
    """The same network in PyTorch (CPU, autograd), from the same initial weights."""
    import torch

    if optimizer != "adam":
        raise ValueError("--torch is implemented for the chapter's Adam only")
    if threads:
        torch.set_num_threads(threads)
    tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    rng = np.random.default_rng(seed)
    w1 = (0.01 * rng.standard_normal((2, 64))).astype(dtype)
    w2 = (0.01 * rng.standard_normal((64, 3))).astype(dtype)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    net = net.to(tdtype)
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w1.T.copy()))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.from_numpy(w2.T.copy()))
        net[2].bias.zero_()
    params = OPTIMIZERS["adam"][2]
    opt = torch.optim.Adam(net.parameters(), lr=params["learning_rate"], betas=(0.9, 0.999),
                           eps=1e-7)
    decay = params["decay"]
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + decay * it))
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    start = time.perf_counter()
    for _ in range(epochs):
        opt.zero_grad()
        logits = net(Xt)
        loss = loss_fn(logits, yt)
        loss.backward()
        opt.step()
        schedule.step()
    seconds = time.perf_counter() - start
    accuracy = float((logits.argmax(1) == yt).double().mean())
    return {"loss": float(loss.detach()), "accuracy": accuracy}, seconds


def main(argv=None):
    require_bench_extra("python -m fastbp.train")
    parser = argparse.ArgumentParser(prog="python -m fastbp.train", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10000)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--seed", type=int, default=0, help="data and initial weights")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS (and PyTorch) threads (default 1)")
    parser.add_argument("--print-every", type=int, default=0, metavar="N",
                        help="print the book's progress line every N epochs")
    parser.add_argument("--compare", action="store_true", help="also train the numpy reference")
    parser.add_argument("--torch", action="store_true", help="also train PyTorch, if installed")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="train each N times, interleaved; report medians (default 1)")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write the command, machine and table as Markdown")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    dtype = np.dtype(args.dtype)
    X, y = spiral_data(100, 3, rng=args.seed)
    X = X.astype(dtype)
    print(f"chapter-10 network, spiral data 100x3, {args.optimizer}, {args.epochs} epochs, "
          f"{dtype.name}, {args.threads} BLAS thread(s)", flush=True)

    trainers = [("fastbp", lambda: train_fastbp(X, y, optimizer=args.optimizer,
                                                epochs=args.epochs, dtype=dtype, seed=args.seed,
                                                print_every=args.print_every))]
    if args.compare:
        trainers.append(("reference", lambda: train_reference(
            X, y, optimizer=args.optimizer, epochs=args.epochs, dtype=dtype, seed=args.seed)))
    if args.torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed: skipping --torch", file=sys.stderr)
        else:
            trainers.append(("pytorch", lambda: train_torch(
                X, y, optimizer=args.optimizer, epochs=args.epochs, dtype=dtype,
                seed=args.seed, threads=args.threads)))

    # Rounds interleave the trainers, so that a slow spell of a shared machine falls on all
    # of them; each ratio is taken within its round.
    results, seconds = {}, {name: [] for name, _ in trainers}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for round_ in range(args.repeat):
            for name, trainer in trainers:
                if name != "fastbp" or round_:
                    print(f"round {round_ + 1}/{args.repeat}: training {name} ...",
                          file=sys.stderr, flush=True)
                results[name], time_taken = trainer()
                seconds[name].append(time_taken)

    fast = seconds["fastbp"]
    rows = []
    print(f"\n{'':10} {'loss':>10} {'accuracy':>9} {'time':>9} {'per epoch':>10}  fastbp is")
    for name, _ in trainers:
        result, median = results[name], float(np.median(seconds[name]))
        ratio = ""
        if name != "fastbp":
            ratios = [other / mine for other, mine in zip(seconds[name], fast)]
            ratio = f"{np.median(ratios):.1f}× faster"
            if len(ratios) > 1:
                ratio += f" (runs: {', '.join(f'{r:.1f}' for r in ratios)})"
        rows.append((name, result, median, ratio))
        print(f"{name:10} {result['loss']:10.6f} {result['accuracy']:9.3f} {median:8.2f}s "
              f"{median / args.epochs * 1e6:8.1f}µs  {ratio}")
    if args.repeat > 1:
        print(f"(times: medians of {args.repeat} interleaved runs; ratios: the median of the "
              "runs' ratios)")
    if args.markdown:
        command = " ".join(["python -m fastbp.train", *(sys.argv[1:] if argv is None else argv)])
        with open(args.markdown, "w") as f:
            f.write(format_markdown(rows, args, command))
        print(f"\nwrote {args.markdown}")
    return 0


def format_markdown(rows, args, command):
    """The run as a Markdown section: the command, date, machine and BLAS, then the table."""
    from fastbp.bench import blas_owner, machine_info, torch_version

    info = machine_info()
    blas = "; ".join(f"{blas_owner(lib)}{lib['internal_api']} {lib['version']} "
                     f"({lib['architecture']} kernels)" for lib in info["blas"])
    lines = [
        f"`{command}`, {info['date']}: {info['cpu']} ({info['cpu_count']} logical cores), "
        f"Python {info['python']}, numpy {info['numpy']}, fastbp {info['fastbp']} "
        f"({info['fastbp_kernels']} kernels){torch_version()}; BLAS: {blas}, "
        f"{args.threads} thread(s). "
        f"Chapter-10 network, {args.optimizer}, {args.epochs} epochs, {args.dtype}; times are "
        f"medians of {args.repeat} interleaved run(s).",
        "",
        "| | loss | accuracy | time | per epoch | fastbp is |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, result, median, ratio in rows:
        lines.append(f"| {name} | {result['loss']:.6f} | {result['accuracy']:.3f} "
                     f"| {median:.2f} s | {median / args.epochs * 1e6:.1f} µs | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
