# Hand-written stub for the compiled module fastbp/_cpu.pyx.
FEATURES: tuple[str, ...]  # the feature names features() reports, x86-64 levels included
DETECTION: bool  # False where the build has no run-time CPU detection (then all False)
def features() -> dict[str, bool]: ...
