import { test } from 'bun:test';
import { codecSmokeTests } from '../codec-smoke.ts';

codecSmokeTests(test);
