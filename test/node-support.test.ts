import { describe, expect, it } from 'vitest';
import { AWS_NODE_WARNING_SWITCH, endOfLifeNotice, quietAwsNodeWarning, SUPPORTED_NODE_MAJORS } from '../src/node-support.js';

describe('Node.js support', () => {
  it('names Node 20 (and older odd releases) as past end of life, in one line, and is silent on 22 and 24', () => {
    const notice = endOfLifeNotice('v20.20.2');
    expect(notice).toMatch(/^fkd: Node\.js v20\.20\.2 is past end of life \(2026-04-30\); fkd supports Node 22 and 24/);
    expect(notice).not.toMatch(/\n/);
    expect(endOfLifeNotice('v23.11.0')).toMatch(/past end of life/);
    expect(endOfLifeNotice('v22.12.0')).toBeUndefined();
    expect(endOfLifeNotice('v24.21.0')).toBeUndefined();
    expect(SUPPORTED_NODE_MAJORS).toEqual([22, 24]);
  });

  it('turns the AWS SDK warning off through its documented switch, unless the user set it', () => {
    const env: NodeJS.ProcessEnv = {};
    quietAwsNodeWarning(env);
    expect(env[AWS_NODE_WARNING_SWITCH]).toBe('true');
    const chosen: NodeJS.ProcessEnv = { [AWS_NODE_WARNING_SWITCH]: 'false' };
    quietAwsNodeWarning(chosen);
    expect(chosen[AWS_NODE_WARNING_SWITCH]).toBe('false');
  });
});
