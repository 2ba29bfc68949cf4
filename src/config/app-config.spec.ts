import { ConfigError, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.DATA_DIR).toBe('./data');
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.ROLE).toBe('all');
    expect(config.HTTP_KEEP_ALIVE_SECONDS).toBe(65);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
  });

  it('reads numbers and strips a trailing slash from the public URL', () => {
    const config = loadConfig({ PORT: '8080', PUBLIC_BASE_URL: 'https://bots.example.com/' });
    expect(config.PORT).toBe(8080);
    expect(config.publicBaseUrl).toBe('https://bots.example.com');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'loud'],
    ['ADMIN_API_KEY', 'short'],
    ['SECRET_KEY', 'short'],
    ['PUBLIC_BASE_URL', 'not a url'],
    ['ROLE', 'boss'],
    ['HTTP_KEEP_ALIVE_SECONDS', '0'],
  ])('rejects %s=%s with one line naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(name);
    expect(message).not.toContain('\n');
  });

  it('reads every optional variable', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@h/db',
      ADMIN_API_KEY: 'k'.repeat(20),
      SECRET_KEY: 's'.repeat(40),
    });
    expect(config.DATABASE_URL).toBe('postgres://u@h/db');
    expect(config.ADMIN_API_KEY).toBe('k'.repeat(20));
    expect(config.SECRET_KEY).toBe('s'.repeat(40));
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', ADMIN_API_KEY: '' }).DATABASE_URL).toBeUndefined();
  });
});
