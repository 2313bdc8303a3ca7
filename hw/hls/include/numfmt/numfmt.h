// numfmt/numfmt.h -- the whole header library except the ap_fixed conversions (numfmt/ap_conv.h).
#ifndef NUMFMT_NUMFMT_H
#define NUMFMT_NUMFMT_H

#include "accumulate.h"
#include "layers.h"
#include "minifloat.h"
#include "mx.h"
#include "requant.h"

#endif  // NUMFMT_NUMFMT_H
