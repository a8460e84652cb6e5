/** HL7 v2 ORU^R01 messages WRITTEN FOR THE TESTS: sirolimus, fibrinogen and platelets with West China local codes. */

export function oru(
  control: string,
  obx: string[],
  opts: { mrn?: string; type?: string; version?: string; time?: string; filler?: string } = {},
): string {
  return [
    `MSH|^~\\&|LIS|WCH|KHE|TRIAL|${opts.time ?? '20220412093000+0800'}||${opts.type ?? 'ORU^R01^ORU_R01'}|${control}|P|${opts.version ?? '2.5.1'}`,
    `PID|1||${opts.mrn ?? 'KHE-031'}^^^WCH^MR||Test^Child||20190301|F`,
    `OBR|1|ORD1|${opts.filler ?? 'FIL1'}|58410-2^CBC^LN|||20220412074000+0800`,
    ...obx,
  ].join('\r');
}

// x10^9/L as a lab must send it in v2 (the caret escaped), and not a UCUM code: resolved by unit alias.
export const PLT = (v: string, status = 'F', unit = 'x10\\S\\9/L') =>
  `OBX|1|NM|PLT^Platelets^99WCH||${v}|${unit}^^L|100-300|L|||${status}|||20220412074000+0800`;
export const FIB = (v: string, status = 'F') =>
  `OBX|2|NM|FIB^Fibrinogen^99WCH||${v}|mg/dL^^UCUM|200-400|L|||${status}|||20220412074000+0800`;
export const RAPA = (v: string, status = 'F', time = '20220412074000+0800') =>
  `OBX|3|NM|RAPA^Sirolimus trough^99WCH||${v}|ug/L^^UCUM|5-15|N|||${status}|||${time}`;
