#!/bin/sh
# The guest side of tests/e2e/fault_test.py: faults a broken or malicious
# guest can really cause, made with busybox alone (the initramfs has it).
#
# As the guest's /init in place of the agent (KTEST_AGENT names this file)
# it is a hostile guest: it speaks to ktest over the agent's wires (the
# "ktest.ctl" virtio-serial port, the ivshmem doorbell) but not by the
# protocol. ktest itself runs unchanged: this is the adversary the promise
# is about, not a stand-in for any part of ktest. The mode is a word
# "hostile:MODE" in the scenario's plan (a Run step that never runs):
#   silent   mounts, then says nothing and answers nothing, forever
#   garbage  junk on the control port and in the doorbell page (with
#            rings), then powers off
#   flood    floods the console and the control port (log messages and
#            over-long lines) until the host stops it
#
# Run by the real agent (a Run step: sh /fault_guest.sh ACTION):
#   panic-in-capture  rings a Capture request once the test says go, then
#                     panics the kernel before the host could serve it
#   kill-agent        the agent (PID 1) dies of a segfault: its stack is
#                     zeroed through /proc/1/mem (the kernel drops every
#                     signal userspace sends to init; a fault it cannot
#                     ignore is how an agent really dies)
PATH=/bin:/usr/bin:/sbin:/usr/sbin
export PATH

# The doorbell device (ivshmem 1af4:1110): BAR0 registers, BAR2 the page.
find_doorbell() {
  for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ]; then
      echo 1 >"$d/enable"
      bar0=$(sed -n 1p "$d/resource" | cut -d' ' -f1)
      bar2=$(sed -n 3p "$d/resource" | cut -d' ' -f1)
    fi
  done
}
# DoorbellPage (kvm/doorbell_abi.h): host_peer_id at 8, request_serial at
# 16, request_kind at 24, request_length at 28, request_payload at 32.
poke() { busybox devmem $((bar2 + $1)) "$2" "$3"; }
ring() { busybox devmem $((bar0 + 12)) 32 $(($(busybox devmem $((bar2 + 8)) 32) << 16)); }
request() {  # SERIAL KIND LENGTH, with whatever payload the page holds
  poke 24 32 "$2"
  poke 28 32 "$3"
  poke 16 64 "$1"
  ring
}
payload() {  # TEXT: written as the request payload
  i=0
  for c in $(printf '%s' "$1" | od -An -tu1); do
    poke $((32 + i)) 8 "$c"
    i=$((i + 1))
  done
}

if [ $$ != 1 ]; then
  case $1 in
  panic-in-capture)
    # fault_test.py stops ktest once it reads "armed" on the console, then
    # writes 0x474F474F ("GOGO") into the shared memory past the
    # DoorbellPage (offset 512 KiB, unused by the ABI): the request is made
    # only once ktest is stopped, so the host serves it only after the
    # guest panicked.
    find_doorbell
    payload pending
    poke 24 32 1  # Capture
    poke 28 32 7
    echo 'fault_guest.sh: armed' >/dev/console
    n=0
    until [ $(($(busybox devmem $((bar2 + 0x80000)) 32))) = $((0x474F474F)) ]; do
      n=$((n + 1))
      if [ $n = 600 ]; then
        echo 'fault_guest.sh: no go from fault_test.py in 60 s' >/dev/console
        exit 1
      fi
      sleep 0.1
    done
    poke 16 64 1000000  # the serial last, then the ring: the request is made
    ring
    echo c >/proc/sysrq-trigger
    ;;
  kill-agent)
    # /proc/1/syscall: "NR args... SP PC" while the agent waits in a
    # syscall ("running" while it runs).
    while :; do
      s=$(cat /proc/1/syscall)
      [ "$s" != running ] && break
    done
    set -- $s
    dd if=/dev/zero of=/proc/1/mem bs=1 count=512 seek=$(($8)) conv=notrunc
    sleep 30
    ;;
  esac
  echo "fault_guest.sh: '$1' did not take the guest down" >&2
  exit 1
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mode=$(grep -o 'hostile:[a-z]*' /ktest/plan.json | head -n 1 | cut -d: -f2)
echo "hostile init: mode '$mode'" >/dev/console
port=
for d in /sys/class/virtio-ports/*; do
  [ "$(cat "$d/name" 2>/dev/null)" = ktest.ctl ] && port=/dev/${d##*/}
done
find_doorbell

case $mode in
silent)
  while :; do sleep 3600; done
  ;;
garbage)
  exec 3>"$port"
  head -c 4096 /dev/urandom >&3
  echo >&3
  head -c 1048576 /dev/zero | tr '\0' x >&3  # four times kMaxLineBytes
  echo >&3
  echo 'not json' >&3
  echo '[1,2,3]' >&3
  echo '{"type":"nosuch"}' >&3
  echo '{"type":"hello"}' >&3
  echo '{"type":"step_finished","index":18446744073709551615,"ok":true}' >&3
  echo '{"type":"step_output","index":7,"seq":0,"data":"@@@"}' >&3
  echo '{"type":"kallsyms_chunk","seq":99999,"data":"not base64"}' >&3
  head -c 200000 /dev/zero | tr '\0' '[' >&3  # deep nesting within the line cap
  echo >&3
  # The doorbell: junk in the page, then rings with junk requests.
  head -c 4096 /dev/urandom >/junk
  i=0
  while [ $i -lt 4096 ]; do
    poke $((32 + i)) 32 $(od -An -tu4 -j $i -N4 /junk)
    i=$((i + 256))
  done
  poke 36 8 27  # an escape byte in the capture name (a terminal's control sequence)
  request 1 3735928559 4294967295   # unknown kind, length past the page
  sleep 1
  request 2 1 4294967295            # a capture whose name is junk
  sleep 1
  request 3 2 4096                  # a watch registration that is no JSON
  sleep 1
  request 4 5 4096                  # a shell question that is no JSON
  sleep 1
  request 5 4 0                     # goodbye without done
  sleep 1
  request 5 1 8                     # the same serial again
  i=0
  while [ $i -lt 200 ]; do ring; i=$((i + 1)); done  # rings without a request
  sleep 2
  echo 'hostile init: done, powering off' >/dev/console
  poweroff -f
  ;;
flood)
  exec 3>"$port"
  yes 'console flood: a guest that never stops writing to its console' >/dev/console &
  head -c 4194304 /dev/zero | tr '\0' z >/dev/console &  # one line of 4 MiB
  # One writer, so the lines stay whole: 2000 log messages (past the 1000
  # kept), then a line past kMaxLineBytes, again and again.
  while :; do
    yes '{"type":"log","text":"log flood: a guest that never stops logging"}' | head -n 2000
    head -c 300000 /dev/zero | tr '\0' y
    echo
  done >&3 &
  while :; do sleep 3600; done
  ;;
esac
echo "hostile init: unknown mode '$mode'" >/dev/console
poweroff -f
