// Runs a kernel launch on the host: every block in turn (last to first, so no kernel can rely on
// block order), and inside a block every thread as a fiber with its own stack, so
// that __syncthreads and warp operations really wait: a thread runs until it reaches a barrier,
// the barrier opens when every thread of the block (or every lane named by a warp operation's
// mask) has reached it. What this catches: wrong indexing and tails, reads of shared memory no
// thread wrote (it starts as NaN bytes), barriers not reached by every thread (divergence),
// launch limits and misaligned vector accesses. What it cannot: races between threads that a
// real GPU interleaves (the order here is fixed), timing, and anything of cuDNN/cuBLAS/NCCL.
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "../../error.h"
#include "../launch_limits.h"
#include "launch.h"

namespace vnet::host {

namespace {

constexpr size_t kStackBytes = 64 * 1024;

// Switching between fibers. On x86-64 a few instructions that save the callee-saved registers
// and the floating-point control words (glibc's swapcontext also saves the signal mask with a
// system call each time: measured 7.5 us per round trip here, against nanoseconds); ucontext
// elsewhere.
#if defined(__x86_64__)
extern "C" void vnet_fiber_switch(void** save_sp, void* to_sp);
asm(R"(
  .text
  .globl vnet_fiber_switch
  .hidden vnet_fiber_switch
  .type vnet_fiber_switch, @function
vnet_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $16, %rsp
  stmxcsr 8(%rsp)
  fnstcw (%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr 8(%rsp)
  fldcw (%rsp)
  addq $16, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size vnet_fiber_switch, .-vnet_fiber_switch
)");

struct Context {
  void* sp = nullptr;
};
// A new context that starts `entry` (which never returns) on `stack`: the frame a switch pops.
void context_init(Context& c, char* stack, size_t bytes, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t(15);
  auto* slot = reinterpret_cast<uint64_t*>(top);
  slot[-1] = 0;                                   // entry's own (never used) return address
  slot[-2] = reinterpret_cast<uint64_t>(entry);   // popped by the switch's ret
  for (int i = 3; i <= 8; i++) slot[-i] = 0;     // rbp rbx r12 r13 r14 r15
  slot[-9] = 0x1f80;                              // MXCSR: the default
  slot[-10] = 0x037f;                             // x87 control word: the default
  c.sp = &slot[-10];
}
void context_switch(Context& from, Context& to) { vnet_fiber_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void context_init(Context& c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

enum class State { Ready, WaitBlock, WaitWarp, Done };

struct Fiber {
  Context ctx;
  State state = State::Ready;
  unsigned mask = 0;  // the warp operation's mask while in WaitWarp
  ThreadCtx t;
  std::exception_ptr error;
};

struct BlockRun {
  const char* kernel = "";
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
  Context scheduler;
  int current = -1;
  size_t dynamic_smem = 0, static_smem = 0;
  std::vector<void*> shared_seen;
  std::vector<uint64_t> slots;  // one per thread: values exchanged by warp operations
};

thread_local BlockRun* g_run = nullptr;

// Fiber stacks, kept between launches (one per thread of the largest block so far).
std::vector<char*>& stacks() {
  thread_local std::vector<char*> s;
  return s;
}
char* stack_for(size_t i) {
  auto& s = stacks();
  while (s.size() <= i) {
    void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_error(ErrorCode::VNET_E_OOM, "host shim: no memory for a fiber stack");
    s.push_back(static_cast<char*>(p));
  }
  return s[i];
}

[[noreturn]] void fault(const std::string& what) {
  throw_error(ErrorCode::VNET_E_CUDA, std::string("kernel ") + (g_run ? g_run->kernel : "?") + ": " + what);
}

BlockRun& run() {
  if (!g_run || g_run->current < 0) throw_error(ErrorCode::VNET_E_INTERNAL, "host shim: a kernel builtin used outside a kernel");
  return *g_run;
}

[[noreturn]] void fiber_main() {
  BlockRun& b = *g_run;
  Fiber& f = b.fibers[size_t(b.current)];
  try {
    (*b.body)();
  } catch (...) {
    f.error = std::current_exception();
  }
  f.state = State::Done;
  context_switch(f.ctx, b.scheduler);  // never resumed
  __builtin_unreachable();
}

void wait_here(State s, unsigned mask = 0) {
  BlockRun& b = run();
  Fiber& f = b.fibers[size_t(b.current)];
  f.state = s;
  f.mask = mask;
  context_switch(f.ctx, b.scheduler);
}

int linear(const ThreadCtx& t) {
  return int(t.thread_idx.x + t.block_dim.x * (t.thread_idx.y + t.block_dim.y * t.thread_idx.z));
}

// Opens the warp operations whose every named lane has arrived; throws when a named lane has
// exited. Returns whether any opened.
bool open_warps(BlockRun& b) {
  bool opened = false;
  const int n = int(b.fibers.size());
  for (int w0 = 0; w0 < n; w0 += 32) {
    const int lanes = n - w0 < 32 ? n - w0 : 32;
    unsigned waiting = 0, named = 0;
    for (int l = 0; l < lanes; l++) {
      const Fiber& f = b.fibers[size_t(w0 + l)];
      if (f.state == State::WaitWarp) waiting |= 1u << l, named |= f.mask;
    }
    if (!waiting) continue;
    named &= lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    for (int l = 0; l < lanes; l++)
      if ((named >> l & 1) && b.fibers[size_t(w0 + l)].state == State::Done)
        fault("lane " + std::to_string(l) + " of warp " + std::to_string(w0 / 32) +
              " is named in a warp operation's mask but has exited");
    if ((named & waiting) != named) continue;  // someone named is still on its way
    for (int l = 0; l < lanes; l++)
      if (waiting >> l & 1) b.fibers[size_t(w0 + l)].state = State::Ready;
    opened = true;
  }
  return opened;
}

void run_block(BlockRun& b, dim3 grid, dim3 block, uint3 bidx) {
  const size_t n = size_t(block.x) * block.y * block.z;
  b.fibers.assign(n, Fiber{});
  b.slots.assign(n, 0);
  b.shared_seen.clear();
  b.static_smem = 0;
  for (size_t i = 0; i < n; i++) {
    Fiber& f = b.fibers[i];
    f.t.block_idx = bidx;
    f.t.block_dim = block;
    f.t.grid_dim = grid;
    f.t.thread_idx = uint3{unsigned(i % block.x), unsigned(i / block.x % block.y), unsigned(i / (size_t(block.x) * block.y))};
    context_init(f.ctx, stack_for(i), kStackBytes, fiber_main);
  }
  for (;;) {
    for (size_t i = 0; i < n; i++) {
      if (b.fibers[i].state != State::Ready) continue;
      b.current = int(i);
      context_switch(b.scheduler, b.fibers[i].ctx);
      b.current = -1;
      if (b.fibers[i].error) std::rethrow_exception(b.fibers[i].error);
    }
    size_t done = 0, at_barrier = 0, at_warp = 0;
    for (const Fiber& f : b.fibers) {
      done += f.state == State::Done;
      at_barrier += f.state == State::WaitBlock;
      at_warp += f.state == State::WaitWarp;
    }
    if (done == n) return;
    if (at_warp && open_warps(b)) continue;
    if (at_barrier + done == n) {
      if (done)
        fault("__syncthreads reached by " + std::to_string(at_barrier) + " of " + std::to_string(n) +
              " threads of block (" + std::to_string(bidx.x) + "," + std::to_string(bidx.y) + "," +
              std::to_string(bidx.z) + "); the others returned (divergent barrier)");
      for (Fiber& f : b.fibers) f.state = State::Ready;
      continue;
    }
    fault("threads of block (" + std::to_string(bidx.x) + "," + std::to_string(bidx.y) + "," + std::to_string(bidx.z) +
          ") wait for each other: " + std::to_string(at_barrier) + " at __syncthreads, " + std::to_string(at_warp) +
          " at a warp operation (deadlock)");
  }
}

}  // namespace

void run_grid(const char* kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body) {
  if (smem) throw_error(ErrorCode::VNET_E_UNSUPPORTED, std::string("launch of ") + kernel + ": dynamic shared memory is not modelled by the host shim");
  thread_local std::vector<std::string> seen;
  if (std::find(seen.begin(), seen.end(), kernel) == seen.end()) {
    seen.push_back(kernel);
    log_line(std::string("kernel ") + kernel);
  }
  BlockRun b;
  b.kernel = kernel;
  b.body = &body;
  b.dynamic_smem = smem;
  BlockRun* outer = g_run;
  g_run = &b;
  try {
    // Last block first: a kernel that relied on block order would show it here.
    for (long long z = grid.z - 1; z >= 0; z--)
      for (long long y = grid.y - 1; y >= 0; y--)
        for (long long x = grid.x - 1; x >= 0; x--) run_block(b, grid, block, uint3{unsigned(x), unsigned(y), unsigned(z)});
  } catch (...) {
    g_run = outer;
    throw;
  }
  g_run = outer;
}

const ThreadCtx& this_thread() {
  BlockRun& b = run();
  return b.fibers[size_t(b.current)].t;
}

void sync_block() { wait_here(State::WaitBlock); }

void sync_warp(unsigned mask) { wait_here(State::WaitWarp, mask); }

int lane_id() { return linear(this_thread()) % 32; }

uint64_t shfl_bits(unsigned mask, uint64_t v, int src_lane, bool in_range) {
  BlockRun& b = run();
  const int me = b.current, warp0 = me / 32 * 32;
  if (!(mask >> (me - warp0) & 1)) fault("a lane ran a warp shuffle whose mask leaves it out");
  b.slots[size_t(me)] = v;
  wait_here(State::WaitWarp, mask);  // every named lane has deposited its value
  const int src = warp0 + src_lane;
  uint64_t r = v;
  if (in_range && src < int(b.fibers.size()) && (mask >> src_lane & 1)) r = b.slots[size_t(src)];
  wait_here(State::WaitWarp, mask);  // every named lane has read before anyone writes again
  return r;
}

unsigned ballot(unsigned mask, bool pred) {
  BlockRun& b = run();
  const int me = b.current, warp0 = me / 32 * 32;
  b.slots[size_t(me)] = pred;
  wait_here(State::WaitWarp, mask);
  unsigned r = 0;
  for (int l = 0; l < 32 && warp0 + l < int(b.fibers.size()); l++)
    if ((mask >> l & 1) && b.slots[size_t(warp0 + l)]) r |= 1u << l;
  wait_here(State::WaitWarp, mask);
  return r;
}

void note_shared(void* p, size_t bytes) {
  BlockRun& b = run();
  for (void* q : b.shared_seen)
    if (q == p) return;
  b.shared_seen.push_back(p);
  b.static_smem += bytes;
  if (b.static_smem + b.dynamic_smem > cuda::kMaxSharedBytes)
    fault(std::to_string(b.static_smem + b.dynamic_smem) + " bytes of shared memory per block, above 48 KiB");
  std::memset(p, 0xff, bytes);  // NaN in every float type: a read before any write shows
}

void check_align(const void* p, size_t bytes, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % bytes)
    fault(std::string("misaligned ") + std::to_string(bytes) + "-byte access through " + what);
}

uint64_t clock_ticks() { return global_ns(); }

uint64_t global_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

}  // namespace vnet::host
