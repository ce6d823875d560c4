#include "util/zstd_frame.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

namespace ktest {

Result<std::string> zstd_compress(std::string_view bytes, int level) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return fail("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), bytes.data(), bytes.size());
  if (ZSTD_isError(n)) return fail(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// Report JSON compresses about 20:1; a frame claiming far more than this
// is grown into rather than believed.
constexpr unsigned long long kMaxReservedRatio = 256;

Result<std::string> zstd_decompress(std::string_view frame, std::size_t max_bytes) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!ctx) return fail("zstd: out of memory");
  // A hostile frame may declare any window; cap what it can make us allocate.
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 27);
  std::string out;
  // A frame that declares its size gets it in one allocation: growing by
  // doubling copied a 200 MB report several times over. The declaration is
  // only a hint from the input, so it is capped like the output and by a
  // ratio no real frame of ours reaches.
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR)
    out.reserve(std::min<unsigned long long>({declared, max_bytes, frame.size() * kMaxReservedRatio}));
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  std::size_t ret = 1;
  while (in.pos < in.size || ret != 0) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    ret = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(ret)) return fail(std::string("zstd: ") + ZSTD_getErrorName(ret));
    if (out.size() + o.pos > max_bytes)
      return fail("zstd frame decompresses to more than " + std::to_string(max_bytes) + " bytes");
    out.append(buf.data(), o.pos);
    if (in.pos == in.size && o.pos == 0 && ret != 0) return fail("zstd frame is truncated");
  }
  return out;
}

}  // namespace ktest
