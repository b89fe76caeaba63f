{
  "targets": [
    {
      "target_name": "tenantgate_lane",
      "sources": ["lane.cc", "relay.cc", "shape_key.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
