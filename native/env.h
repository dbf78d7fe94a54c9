// The environment: every VNET_* variable the engine reads is listed in env.cc's table, with
// what it does, and read through these functions only (the TypeScript side's are in
// src/env.ts; the README's table lists both). Asking for a name the table lacks throws
// VNET_E_INTERNAL, so a new variable cannot be read without being listed.
#pragma once
#include <string>

namespace vnet::env {

// The value, or nullptr when unset.
const char* get(const char* name);
// Set and not "0", "false" or "off"; `dflt` when unset or empty.
bool flag(const char* name, bool dflt);

}  // namespace vnet::env
