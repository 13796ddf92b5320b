/* fastbp's shared constants, in one place: the compiled modules read them through
 * _constants.pxd, Python through fastbp._constants.CONSTANTS. */
#ifndef FASTBP_CONSTANTS_H
#define FASTBP_CONSTANTS_H

/* BLAS indexes with 32-bit integers: no dimension of an array handed to it may exceed this. */
#define FASTBP_BLAS_MAX_DIM 2147483647
/* Dense layers a compiled training step (NetworkStep) runs at most. */
#define FASTBP_MAX_NETWORK_LAYERS 4
/* Categorical cross-entropy clips predictions to [CLIP, 1 - CLIP], as the book does. */
#define FASTBP_CLIP 1e-7

#endif
