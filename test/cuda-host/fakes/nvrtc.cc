// A stand-in libnvrtc.so.13 for the host shim's tests: the engine loads NVRTC only so that
// cuDNN finds it, and asks it for its version.
extern "C" int nvrtcVersion(int* major, int* minor) {
  *major = 13;
  *minor = 0;
  return 0;
}
