// vmlinux out of a bzImage, and what an ELF kernel image carries.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

namespace {

// No real kernel comes close; the bound keeps a hostile image from eating memory.
constexpr std::size_t kMaxVmlinuxBytes = std::size_t{1} << 30;

constexpr std::array<unsigned char, 4> kZstdMagic = {0x28, 0xb5, 0x2f, 0xfd};
constexpr std::array<unsigned char, 3> kGzipMagic = {0x1f, 0x8b, 0x08};
constexpr unsigned kXenElfNotePhys32Entry = 18;

bool is_elf(std::string_view bytes) { return bytes.size() >= 4 && bytes.substr(0, 4) == "\x7f" "ELF"; }

std::uint32_t read_le32(std::string_view bytes, std::size_t offset) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  }
  return v;
}

// Decompresses the first zstd frame of `in`; data after it is ignored.
Result<std::string> zstd_first_frame(std::string_view in) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return fail("zstd: out of memory");
  // Kernel images use windows up to 2^27 (zstd --long); 2^28 bounds memory.
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, 28);
  std::string out;
  std::string chunk(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  for (;;) {
    ZSTD_outBuffer output{chunk.data(), chunk.size(), 0};
    std::size_t rc = ZSTD_decompressStream(dctx.get(), &output, &input);
    if (ZSTD_isError(rc)) return fail(std::string("zstd: ") + ZSTD_getErrorName(rc));
    out.append(chunk.data(), output.pos);
    if (out.size() > kMaxVmlinuxBytes) return fail("zstd: payload larger than 1 GiB");
    if (rc == 0) return out;  // end of the first frame
    if (input.pos == input.size && output.pos < output.size) {
      return fail("zstd: payload is truncated");
    }
  }
}

// Decompresses the first gzip member of `in`; data after it is ignored.
Result<std::string> gzip_first_member(std::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return fail("zlib: cannot initialise");
  std::string out;
  std::string chunk(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), UINT32_MAX));
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string why = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated" : "corrupt");
      inflateEnd(&zs);
      return fail("gzip: " + why);
    }
    out.append(chunk.data(), chunk.size() - zs.avail_out);
    if (out.size() > kMaxVmlinuxBytes) {
      inflateEnd(&zs);
      return fail("gzip: payload larger than 1 GiB");
    }
  }
  inflateEnd(&zs);
  return out;
}

Result<std::string> decompress_at(std::string_view image, std::size_t offset) {
  std::string_view rest = image.substr(offset);
  if (rest.size() >= 4 && std::memcmp(rest.data(), kZstdMagic.data(), 4) == 0) {
    return zstd_first_frame(rest);
  }
  if (rest.size() >= 3 && std::memcmp(rest.data(), kGzipMagic.data(), 3) == 0) {
    return gzip_first_member(rest);
  }
  return fail("no zstd or gzip payload");
}

// Payload start from the x86 boot protocol header (>= 2.08), if plausible.
std::optional<std::size_t> header_payload_offset(std::string_view image) {
  if (image.size() < 0x250 || image.substr(0x202, 4) != "HdrS") return std::nullopt;
  std::size_t setup_sects = static_cast<unsigned char>(image[0x1f1]);
  if (setup_sects == 0) setup_sects = 4;  // boot protocol: 0 means 4
  std::size_t offset = (setup_sects + 1) * 512 + read_le32(image, 0x248);
  if (offset >= image.size()) return std::nullopt;
  return offset;
}

struct ElfHandle {
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
  }
};

Result<ElfFacts> inspect_elf(Elf* elf) {
  if (elf_kind(elf) != ELF_K_ELF) return fail("not an ELF file");
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return fail(std::string("ELF: ") + elf_errmsg(-1));
  ElfFacts facts;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    std::string_view section = name ? name : "";
    if (section == ".BTF") {
      facts.has_btf = shdr.sh_size > 0;
      facts.btf_offset = shdr.sh_offset;
      facts.btf_size = shdr.sh_size;
    } else if (shdr.sh_type == SHT_SYMTAB && shdr.sh_size > sizeof(Elf64_Sym)) {
      facts.has_symbols = true;
    } else if (shdr.sh_type == SHT_NOTE && !facts.has_pvh_note) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      std::size_t pos = 0, name_off = 0, desc_off = 0;
      GElf_Nhdr nhdr;
      while (data && (pos = gelf_getnote(data, pos, &nhdr, &name_off, &desc_off)) > 0) {
        const char* owner = static_cast<const char*>(data->d_buf) + name_off;
        if (nhdr.n_type == kXenElfNotePhys32Entry && nhdr.n_namesz == 4 &&
            std::memcmp(owner, "Xen", 4) == 0) {
          facts.has_pvh_note = true;
        }
      }
    }
  }
  return facts;
}

}  // namespace

Result<std::string> extract_vmlinux(std::string_view bzimage) {
  if (is_elf(bzimage)) return fail("this is already an uncompressed ELF (vmlinux), not a bzImage");
  std::string last_error = "no zstd (28 b5 2f fd) or gzip (1f 8b 08) payload found";
  if (auto offset = header_payload_offset(bzimage)) {
    auto out = decompress_at(bzimage, *offset);
    if (out && is_elf(*out)) return out;
    last_error = out ? "the payload named by the boot header is not an ELF" : out.error().message;
  }
  // Older or unusual images: scan for a magic whose stream decompresses to an ELF.
  for (std::size_t i = 0; i + 4 <= bzimage.size(); ++i) {
    auto c = static_cast<unsigned char>(bzimage[i]);
    if (c != kZstdMagic[0] && c != kGzipMagic[0]) continue;
    auto out = decompress_at(bzimage, i);
    if (out && is_elf(*out)) return out;
  }
  return fail("cannot find the kernel inside the image: " + last_error, "",
              "pass a bzImage built with CONFIG_KERNEL_ZSTD or CONFIG_KERNEL_GZIP, or the vmlinux itself");
}

Status extract_vmlinux_file(const std::string& bzimage_path, const std::string& vmlinux_path) {
  KTEST_ASSIGN(std::string image, read_file(bzimage_path));
  auto elf = extract_vmlinux(image);
  if (!elf) return std::move(elf).context(bzimage_path);
  return write_file_atomic(vmlinux_path, *elf);
}

Result<ElfFacts> inspect_vmlinux_bytes(std::string_view bytes) {
  elf_version(EV_CURRENT);
  ElfHandle h;
  h.elf = elf_memory(const_cast<char*>(bytes.data()), bytes.size());
  if (!h.elf) return fail(std::string("ELF: ") + elf_errmsg(-1));
  return inspect_elf(h.elf);
}

Result<ElfFacts> inspect_vmlinux(const std::string& path) {
  elf_version(EV_CURRENT);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + path + ": " + std::strerror(errno), "", "check the path");
  ElfHandle h;
  h.elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  Result<ElfFacts> facts = h.elf ? inspect_elf(h.elf) : fail(std::string("ELF: ") + elf_errmsg(-1));
  if (h.elf) {
    elf_end(h.elf);
    h.elf = nullptr;
  }
  ::close(fd);
  if (!facts) return std::move(facts).context(path);
  return facts;
}

}  // namespace ktest::kvm
