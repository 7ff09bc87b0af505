{
  "targets": [
    {
      "target_name": "udp_device",
      "sources": ["udp_device.c", "udp_send.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
