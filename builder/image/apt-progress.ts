// mmdebstrap --verbose output turned into progress: its phases (`I: …` lines), the packages apt
// downloads (with their sizes) and the packages dpkg unpacks and sets up. Each line in, at most one
// message out; counts accumulate so a message says how far the bootstrap has come.

export interface AptProgressMessage {
  text: string;
  /** Package-by-package lines: a log may thin these out; phase lines are always shown. */
  transient: boolean;
}

const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 };

export class AptProgress {
  private downloaded = 0;
  private bytes = 0;
  private unpacked = 0;
  private setUp = 0;

  /** One line of mmdebstrap's output (stdout or stderr). */
  line(raw: string): AptProgressMessage | undefined {
    const line = raw.trim();
    // `I: downloading packages with apt...`, `I: extracting archives...`, `I: success in 95.27 seconds`
    const phase = /^I: (.+?)\.*$/.exec(line);
    if (phase?.[1]) return { text: phase[1], transient: false };
    // `Get:12 http://deb.debian.org/debian trixie/main amd64 libc6 amd64 2.41-12 [2,860 kB]`
    const get = /^Get:\d+ \S+ \S+ \S+ (\S+) \S+ \S+ \[([\d.,]+) (B|kB|MB|GB)\]/.exec(line);
    if (get?.[1] && get[2] && get[3]) {
      this.downloaded++;
      this.bytes += Number(get[2].replace(/,/g, '')) * (SIZE_UNITS[get[3]] ?? 1);
      return { text: `downloaded ${this.downloaded} packages, ${(this.bytes / 1e6).toFixed(1)} MB: ${get[1]}`, transient: true };
    }
    const unpack = /^Unpacking (\S+?)(?::\w+)? \(/.exec(line);
    if (unpack?.[1]) return { text: `unpacked ${++this.unpacked} packages: ${unpack[1]}`, transient: true };
    const setup = /^Setting up (\S+?)(?::\w+)? \(/.exec(line);
    if (setup?.[1]) return { text: `set up ${++this.setUp} packages: ${setup[1]}`, transient: true };
    return undefined;
  }
}
