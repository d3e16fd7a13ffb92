(set +H) 2>/dev/null && set +H
unalias -a 2>/dev/null
cx_nl='
'
cx_e() {
  case $1 in
    *"No such file"*) cx_k='ENOENT 2';;
    *"ermission denied"*) cx_k='EACCES 13';;
    *"No such process"*) cx_k='ESRCH 3';;
    *"ot permitted"*) cx_k='EPERM 1';;
    *) cx_k=other;;
  esac
}
cx_raw() {
  case $1 in
    *"$cx_nl"*) printf %s "$1" | od -An -v -tx1;;
    *) printf 'R%s\n' "$1";;
  esac
}
cx_f() {
  printf 'Hf %s%s\n' "$1" "$2"
  if cx_m=$(od -An -v -tx1 "/proc/$1" 2>&1 >&3); then echo Hk; return 0; fi
  cx_e "$cx_m"; printf 'Hx %s\n' "$cx_k"; return 1
}
cx_lsl() {
  cx_o=$(ls -ldn "$1") || return 1
  case $cx_o in *" -> "*) ;; *) echo "$1: Permission denied" >&2; return 1;; esac
  printf '%s\n' "${cx_o#*"$1 -> "}"
}
cx_l() {
  printf 'Hl %s\n' "$2"
  if cx_t=$($cx_rl "/proc/$1" 2>&1 && echo .); then
    cx_t=${cx_t%.}; cx_t=${cx_t%"$cx_nl"}; cx_raw "$cx_t"; echo Hk; return 0
  fi
  cx_e "$cx_t"; printf 'Hx %s\n' "$cx_k"; return 1
}
cx_exe() {
  cx_s=; cx_key=; cx_h=
  if [ -n "$cx_st" ]; then
    if cx_s=$(stat -L -c 'st %d %i %h %s %Y' "/proc/$1/exe" 2>&1); then
      set -- "$1" $cx_s; cx_key=$3_$4_$6_$7
    else
      cx_e "$cx_s"; printf 'He\nHx %s\n' "$cx_k"; return
    fi
  elif cx_s=$(ls -lLdin "/proc/$1/exe" 2>&1); then
    set -- "$1" $cx_s; cx_s="ls $2 $4 $7"
  else
    cx_e "$cx_s"; printf 'He\nHx %s\n' "$cx_k"; return
  fi
  if [ -n "$cx_sha" ]; then
    if [ -n "$cx_key" ]; then
      case $cx_seen in *" $cx_key="*) cx_h=${cx_seen#*" $cx_key="}; cx_h=${cx_h%% *};; esac
    fi
    if [ -z "$cx_key" ] || [ -z "$cx_h" ]; then
      if cx_h=$($cx_sha "/proc/$1/exe" 2>&1); then
        cx_h=${cx_h%% *}
        [ -z "$cx_key" ] || cx_seen="$cx_seen $cx_key=$cx_h"
      else
        cx_e "$cx_h"; printf 'He\nHx %s\n' "$cx_k"; return
      fi
    fi
  fi
  printf 'He %s %s\nHk\n' "$cx_s" "${cx_h:--}"
}
cx_one() {
  cx_l "$cx_pid/$1" "$1" || return
  case $1 in ns/net) cx_ino; cx_net=$cx_i;; ns/mnt) cx_ino; cx_mnt=$cx_i;; exe) cx_ex=1;; esac
}
cx_pop() {
  cx_h=${cx_rest%% *}
  case $cx_rest in *" "*) cx_rest=${cx_rest#* };; *) cx_rest=;; esac
}
cx_links() {
  cx_fdl=; cx_fdx=
  set -- "/proc/$1/fd/"*
  if [ "$1" = "/proc/$cx_pid/fd/*" ] && [ -z "$2" ] && [ ."$(ls -A "/proc/$cx_pid/fd" 2>/dev/null)" = . ]; then
    if cx_m=$(ls "/proc/$cx_pid/fd" 2>&1 >/dev/null); then :; else cx_e "$cx_m"; cx_fdx=$cx_k; fi
  else
    for cx_fd do cx_fdl="$cx_fdl fd/${cx_fd##*/}"; done
  fi
  cx_w="cwd exe$cx_fdl ns/cgroup ns/ipc ns/mnt ns/net ns/pid ns/time ns/user ns/uts root"
  cx_o=$(cd "/proc/$cx_pid" && ls -ldn $cx_w 2>/dev/null; echo .)
  cx_o=${cx_o%.}
  cx_bad=; cx_miss=; cx_dark=; cx_rest=$cx_w
  case $cx_o in *"$cx_nl$cx_nl"*) cx_bad=1;; esac
  cx_ifs=$IFS; IFS=$cx_nl; set -f
  for cx_ln in $cx_o; do
    [ -z "$cx_bad" ] || break
    case $cx_ln in l*) ;; *) cx_bad=1; break;; esac
    cx_nm=${cx_ln%% -> *}; cx_nm=${cx_nm##* }
    while :; do
      if [ -z "$cx_rest" ]; then cx_bad=1; break; fi
      cx_pop
      [ "$cx_h" = "$cx_nm" ] && break
      cx_miss="$cx_miss $cx_h"
    done
    case $cx_ln in *" -> "*) ;; *) cx_dark="$cx_dark $cx_nm";; esac
  done
  echo HL
  if [ -z "$cx_bad" ]; then
    for cx_ln in $cx_o; do
      case $cx_ln in l*" -> "*) ;; *) continue;; esac
      cx_nm=${cx_ln%% -> *}; cx_nm=${cx_nm##* }; cx_t=${cx_ln#* -> }
      printf 'Hl %s\n' "$cx_nm"; cx_raw "$cx_t"; echo Hk
      case $cx_nm in ns/net) cx_ino; cx_net=$cx_i;; ns/mnt) cx_ino; cx_mnt=$cx_i;; exe) cx_ex=1;; esac
    done
    cx_miss="$cx_miss $cx_rest"
  else
    cx_miss=$cx_w; cx_dark=
  fi
  IFS=$cx_ifs; set +f
  for cx_nm in $cx_miss; do cx_one "$cx_nm"; done
  cx_k=
  for cx_nm in $cx_dark; do
    if [ -n "$cx_k" ]; then printf 'Hl %s\nHx %s\n' "$cx_nm" "$cx_k"; else cx_one "$cx_nm" || continue; cx_k=; fi
  done
  echo Hk
  [ -z "$cx_fdx" ] || printf 'HF\nHx %s\n' "$cx_fdx"
}
cx_ino() {
  cx_i=${cx_t#*"["}; cx_i=${cx_i%"]"}
  [ "$cx_i" -ge 0 ] 2>/dev/null || cx_i=
}
cx_p() {
  cx_pid=$1
  if [ -d "/proc/$1" ]; then :; else printf 'Ho %s vanished\n' "$1"; return; fi
  printf 'Ho %s\n' "$1"
  cx_f "$1/stat"; cx_f "$1/status"; cx_f "$1/cmdline"
  [ "$CURTAIN_NO_ENVIRON" = 1 ] || cx_f "$1/environ"
  cx_f "$1/cgroup"; cx_f "$1/maps"
  cx_net=; cx_mnt=; cx_ex=
  cx_links "$1"
  [ -z "$cx_ex" ] || cx_exe "$1"
  if [ -n "$cx_net" ]; then
    case " $cx_nets " in *" $cx_net "*) ;; *)
      cx_ok=
      for cx_n in tcp tcp6 udp udp6 raw raw6 unix; do
        cx_f "$1/net/$cx_n" " n=$cx_net" && cx_ok=1
      done
      [ -z "$cx_ok" ] || cx_nets="$cx_nets $cx_net";;
    esac
  fi
  if [ -n "$cx_mnt" ]; then
    case " $cx_mnts " in *" $cx_mnt "*) ;; *)
      cx_f "$1/mountinfo" " m=$cx_mnt" && cx_mnts="$cx_mnts $cx_mnt";;
    esac
  fi
  [ -d "/proc/$1" ] || echo Hg
}
cx_clock() {
  read cx_u cx_x </proc/uptime
  cx_dt=$(date +%s.%N)
  printf 'Hc %s %s %s\n' "$1" "$cx_u" "$cx_dt"
}
cx_gen() {
  echo 'Hv 1'
  cx_clock s
  read cx_self cx_x </proc/self/stat
  printf 'Hs %s\n' "$cx_self"
  for cx_n in n r m; do printf 'Hu %s\n' $cx_n; cx_raw "$(uname -$cx_n)"; echo Hk; done
  if command -v getconf >/dev/null; then
    printf 'Ht tck %s\n' "$(getconf CLK_TCK)"
    printf 'Ht page %s\n' "$(getconf PAGESIZE)"
  fi
  printf 'Ht endian %s\n' $(printf ab | od -An -tx2)
  printf 'Ht noenv %s\n' "${CURTAIN_NO_ENVIRON:-0}"
  printf 'Ht tools %s,%s,%s\n' "$cx_rl" "${cx_st:-nostat}" "${cx_sha:-nosha}"
  cx_f stat
  cx_all=
  for cx_d in /proc/[0-9]*; do cx_all="$cx_all ${cx_d#/proc/}"; done
  echo Ha; printf 'R%s\n' "$cx_all"; echo Hk
  cx_nets=; cx_mnts=; cx_seen=
  for cx_d in $cx_all; do cx_p "$cx_d"; done
  cx_clock e
  echo Hz
}
cx_main() {
  cx_M=CURTAIN; cx_M=$cx_M-FRAME
  if command -v awk >/dev/null && command -v od >/dev/null; then :; else
    printf '\n%s FAIL %s this shell has no awk or no od\n' "$cx_M" "$CURTAIN_NONCE"
    return 1
  fi
  cx_rl='readlink -v'
  if command -v readlink >/dev/null; then
    readlink -v /proc/self >/dev/null 2>&1 || cx_rl=readlink
  else
    cx_rl=cx_lsl
  fi
  cx_st=
  stat -L -c %i /proc/self/exe >/dev/null 2>&1 && cx_st=stat
  cx_sha=
  if command -v sha256sum >/dev/null; then cx_sha=sha256sum
  elif command -v busybox >/dev/null; then cx_sha='busybox sha256sum'
  fi
  LC_ALL=C; export LC_ALL
  cx_gen 3>&1 </dev/null 2>/dev/null | LC_ALL=C awk -v n="$CURTAIN_NONCE" "$cx_awk" 2>/dev/null
}
cx_main
