// write_fuzz_seeds DIR: writes every target's generated seeds to
// DIR/<target>/seed-<label> and removes the seed-* files no target builds
// any more. Other corpus files (hand-written, minimized finds) are kept.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "fuzz/fuzz_target.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  std::size_t written = 0;
  for (const auto& t : ktest::fuzz::targets()) {
    if (t.seeds == nullptr) continue;
    fs::path dir = fs::path(argv[1]) / t.name;
    fs::create_directories(dir);
    std::set<std::string> current;
    for (const auto& seed : t.seeds()) {
      std::string file = "seed-" + seed.label;
      current.insert(file);
      std::ofstream out(dir / file, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(seed.bytes.data()), static_cast<std::streamsize>(seed.bytes.size()));
      if (!out) {
        std::fprintf(stderr, "cannot write %s\n", (dir / file).c_str());
        return 1;
      }
      ++written;
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string file = entry.path().filename().string();
      if (file.rfind("seed-", 0) == 0 && current.count(file) == 0) fs::remove(entry.path());
    }
  }
  std::printf("%zu seeds written under %s\n", written, argv[1]);
  return 0;
}
