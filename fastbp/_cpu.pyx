"""The CPU's features, from the compiler's own run-time CPU detection.

GCC's and Clang's ``__builtin_cpu_supports`` read ``cpuid`` and, for AVX and AVX-512, whether
the operating system saves those registers (``xgetbv``), as code built for x86-64-v3 or v4
needs. This module is compiled for the baseline, so that it runs on any CPU. Where there is
no such detection (not x86, another compiler) every feature reads False, and fastbp runs its
baseline kernels.
"""

cdef extern from *:
    """
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    #define FASTBP_CPU_DETECTION 1
    #define FASTBP_HAS(name) (__builtin_cpu_supports(name) != 0)
    /* GCC 12 names the x86-64 levels as -march does; elsewhere a level is its defining
       features (every CPU with AVX2, FMA, BMI1 and BMI2 also has F16C, LZCNT and MOVBE). */
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    #define FASTBP_V2 FASTBP_HAS("x86-64-v2")
    #define FASTBP_V3 FASTBP_HAS("x86-64-v3")
    #define FASTBP_V4 FASTBP_HAS("x86-64-v4")
    #else
    #define FASTBP_V2 (FASTBP_HAS("sse4.2") && FASTBP_HAS("popcnt"))
    #define FASTBP_V3 (FASTBP_V2 && FASTBP_HAS("avx2") && FASTBP_HAS("fma") \\
                       && FASTBP_HAS("bmi") && FASTBP_HAS("bmi2"))
    #define FASTBP_V4 (FASTBP_V3 && FASTBP_HAS("avx512f") && FASTBP_HAS("avx512bw") \\
                       && FASTBP_HAS("avx512cd") && FASTBP_HAS("avx512dq") \\
                       && FASTBP_HAS("avx512vl"))
    #endif
    static unsigned long fastbp_cpu_features(void) {
        unsigned long f = 0;
        __builtin_cpu_init();
        f |= (unsigned long) FASTBP_HAS("sse4.2") << 0;
        f |= (unsigned long) FASTBP_HAS("avx") << 1;
        f |= (unsigned long) FASTBP_HAS("avx2") << 2;
        f |= (unsigned long) FASTBP_HAS("fma") << 3;
        f |= (unsigned long) FASTBP_HAS("bmi") << 4;
        f |= (unsigned long) FASTBP_HAS("bmi2") << 5;
        f |= (unsigned long) FASTBP_HAS("avx512f") << 6;
        f |= (unsigned long) FASTBP_HAS("avx512bw") << 7;
        f |= (unsigned long) FASTBP_HAS("avx512dq") << 8;
        f |= (unsigned long) FASTBP_HAS("avx512vl") << 9;
        f |= (unsigned long) (FASTBP_V2 != 0) << 10;
        f |= (unsigned long) (FASTBP_V3 != 0) << 11;
        f |= (unsigned long) (FASTBP_V4 != 0) << 12;
        return f;
    }
    #else
    #define FASTBP_CPU_DETECTION 0
    static unsigned long fastbp_cpu_features(void) { return 0; }
    #endif
    """
    const bint FASTBP_CPU_DETECTION
    unsigned long fastbp_cpu_features() nogil

# The bits of fastbp_cpu_features, in order.
FEATURES = ("sse4.2", "avx", "avx2", "fma", "bmi", "bmi2", "avx512f", "avx512bw", "avx512dq",
            "avx512vl", "x86-64-v2", "x86-64-v3", "x86-64-v4")

DETECTION = bool(FASTBP_CPU_DETECTION)


def features():
    """{feature name: bool} for FEATURES, as this CPU and operating system support them."""
    cdef unsigned long bits = fastbp_cpu_features()
    return {name: bool(bits >> i & 1) for i, name in enumerate(FEATURES)}
