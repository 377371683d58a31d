// kfaas-activator: the HTTP data path in front of every function. See activator/app/app.h.
#include <iostream>

#include "activator/app/app.h"

int main(int argc, char** argv) {
  std::string help;
  auto opts = kfaas::activator::ParseFlags(argc, argv, &help);
  if (!opts.ok()) {
    if (opts.status().message() == "help") {
      std::cout << help;
      return 0;
    }
    std::cerr << "kfaas-activator: " << opts.status().message() << "\n"
              << "Run kfaas-activator --help for the flags.\n";
    return 2;
  }
  return kfaas::activator::Run(*opts);
}
