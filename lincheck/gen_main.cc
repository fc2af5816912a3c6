// synod-lincheck-gen: writes a generated linearizable history (JSON Lines) to
// stdout, for timing synod-lincheck.
//   synod-lincheck-gen --model register|counter|kv --ops N [--processes P]
//                      [--info K] [--seed S]
#include <iostream>
#include <string>

#include "lincheck/generator.h"

int main(int argc, char** argv) {
  synod::lincheck::GeneratorOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    std::string value = argv[i + 1];
    try {
      if (arg == "--model") {
        options.model = value;
      } else if (arg == "--ops") {
        options.operations = std::stoi(value);
      } else if (arg == "--processes") {
        options.processes = std::stoi(value);
      } else if (arg == "--info") {
        options.info_operations = std::stoi(value);
      } else if (arg == "--seed") {
        options.seed = std::stoull(value);
      } else {
        std::cerr << "synod-lincheck-gen: unknown option " << arg << "\n";
        return 2;
      }
    } catch (...) {
      std::cerr << "synod-lincheck-gen: bad value for " << arg << "\n";
      return 2;
    }
  }
  if (options.processes < 1 || options.operations < 1) {
    std::cerr << "synod-lincheck-gen: --ops and --processes must be positive\n";
    return 2;
  }
  synod::lincheck::GenerateHistory(options, std::cout);
  return 0;
}
